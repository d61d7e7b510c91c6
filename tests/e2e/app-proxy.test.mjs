// The App Proxy stand-in (app-proxy.mjs) against a recording upstream: it must sign exactly as
// Shopify does and relay exactly what Shopify relays, or the Shopify end-to-end test would
// prove nothing about the real thing.

import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, test } from "node:test";

import { signAppProxyParams, startAppProxy } from "./app-proxy.mjs";
import { freePort } from "./util.mjs";

const SECRET = "app-secret";
const SHOP = "shop-name.myshopify.com";
const NOW_MS = 1_700_000_000_000;

let upstream;
let upstreamOrigin;
let appProxy;
const seen = [];

before(async () => {
  upstream = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => (body += chunk));
    request.on("end", () => {
      seen.push({ method: request.method, url: request.url, headers: request.headers, body });
      if (request.url.startsWith("/shopify/stream")) {
        response.writeHead(200, { "content-type": "text/event-stream" });
        response.write("event: status\ndata: {}\n\n");
        return; // left open, like a live task's stream
      }
      response.writeHead(200, {
        "content-type": "application/json",
        "cache-control": "private",
        "set-cookie": "session=1",
        "x-powered-by": "tryon",
      });
      response.end(JSON.stringify({ ok: true }));
    });
  });
  const port = await freePort();
  await new Promise((resolve) => upstream.listen(port, "127.0.0.1", resolve));
  upstreamOrigin = `http://127.0.0.1:${port}`;
  appProxy = await startAppProxy({
    upstream: `${upstreamOrigin}/shopify`,
    secret: SECRET,
    shop: SHOP,
    now: () => NOW_MS,
    site: (request, response) => response.writeHead(200, { "content-type": "text/html" }).end("<h1>storefront</h1>"),
  });
});

after(async () => {
  await appProxy?.close();
  upstream?.closeAllConnections();
  await new Promise((resolve) => upstream?.close(resolve));
});

test("the signer reproduces Shopify's published example", () => {
  const pairs = [
    ["extra", "1"],
    ["extra", "2"],
    ["shop", "shop-name.myshopify.com"],
    ["logged_in_customer_id", "1"],
    ["path_prefix", "/apps/awesome_reviews"],
    ["timestamp", "1317327555"],
  ];
  assert.equal(signAppProxyParams(pairs, "hush"), "4c68c8624d737112c91818c11017d24d334b524cb5c2b8ba08daa056f7395ddb");
});

test("requests under /apps/tryon reach the upstream signed, without cookies, with the forwarded host", async () => {
  seen.length = 0;
  const response = await fetch(`${appProxy.origin}/apps/tryon/v1/tryons?mode=x`, {
    method: "POST",
    headers: { cookie: "cart=abc", "content-type": "text/plain" },
    body: "photo bytes",
  });
  assert.equal(response.status, 200);
  assert.equal(seen.length, 1);
  const [relayed] = seen;
  const url = new URL(relayed.url, upstreamOrigin);
  assert.equal(relayed.method, "POST");
  assert.equal(relayed.body, "photo bytes");
  assert.equal(url.pathname, "/shopify/v1/tryons");
  assert.equal(relayed.headers.cookie, undefined, "Shopify strips cookies");
  assert.equal(relayed.headers["x-forwarded-host"], new URL(appProxy.origin).host);

  const params = url.searchParams;
  assert.equal(params.get("mode"), "x", "the shopper's own query goes along");
  assert.equal(params.get("shop"), SHOP);
  assert.equal(params.get("path_prefix"), "/apps/tryon");
  assert.equal(params.get("logged_in_customer_id"), "");
  assert.equal(params.get("timestamp"), String(NOW_MS / 1000));
  const signed = [...params].filter(([key]) => key !== "signature");
  assert.equal(params.get("signature"), signAppProxyParams(signed, SECRET));
  assert.match(params.get("signature"), /^[0-9a-f]{64}$/);
});

test("responses come back without the headers Shopify strips", async () => {
  const response = await fetch(`${appProxy.origin}/apps/tryon/v1/config`);
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { ok: true });
  assert.equal(response.headers.get("set-cookie"), null);
  assert.equal(response.headers.get("x-powered-by"), null);
  assert.equal(response.headers.get("cache-control"), "private");
});

test("event streams are not relayed", async () => {
  const response = await fetch(`${appProxy.origin}/apps/tryon/stream`);
  assert.equal(response.status, 502);
  assert.ok(appProxy.forwarded.some((record) => record.path === "/apps/tryon/stream" && record.refusedStream));
});

test("other paths are the storefront's", async () => {
  const before = seen.length;
  const response = await fetch(`${appProxy.origin}/products/linen-shirt`);
  assert.equal(await response.text(), "<h1>storefront</h1>");
  assert.equal(seen.length, before, "nothing reached the upstream");
});
