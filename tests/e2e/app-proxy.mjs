// A stand-in for Shopify's App Proxy on 127.0.0.1, for end-to-end tests of the Shopify path.
// It behaves the way Shopify documents (and the way we must assume where it does not):
// `/apps/tryon/<rest>?<query>` is forwarded to `<upstream><rest>` with the method and body, the
// query gains `shop`, `logged_in_customer_id`, `path_prefix`, `timestamp` and a `signature`
// computed as Shopify computes it, `X-Forwarded-Host`/`X-Forwarded-For` are added, cookies are
// stripped both ways (with the other response headers Shopify drops), and an event stream is
// NOT passed through (whether Shopify streams is undocumented, so the widget must cope).
// Everything else is answered by `site`, the storefront page under test.

import { createHmac } from "node:crypto";
import { createServer, request as httpRequest } from "node:http";
import { createServer as createTlsServer } from "node:https";

import { freePort } from "./util.mjs";

/** Response headers Shopify's App Proxy removes (shopify.dev, "App proxies"). */
const STRIPPED_RESPONSE_HEADERS = [
  "accept-patch", "accept-ranges", "connection", "cookie", "date", "delta-base", "im", "p3p", "pragma",
  "preference-applied", "proxy-authenticate", "public-key-pins", "server", "service-worker-allowed",
  "set-cookie", "trailer", "tk", "transfer-encoding", "warning", "x-powered-by",
];

/**
 * Shopify's App Proxy signature over decoded `[key, value]` pairs: repeated keys joined with
 * ",", `key=value` strings sorted and concatenated, lowercase hex HMAC-SHA256 with `secret`.
 */
export function signAppProxyParams(pairs, secret) {
  const grouped = new Map();
  for (const [key, value] of pairs) {
    if (key === "signature") continue;
    grouped.set(key, [...(grouped.get(key) || []), value]);
  }
  const message = [...grouped].map(([key, values]) => `${key}=${values.join(",")}`).sort().join("");
  return createHmac("sha256", secret).update(message).digest("hex");
}

/**
 * Starts the stand-in. `upstream` is the App Proxy's target URL (e.g. `http://127.0.0.1:8080/shopify`);
 * `site(request, response)` serves every path outside `pathPrefix`. With `tls` (`{ key, cert }`)
 * the storefront is served over https, as real shops are, so its origin is `https://…`.
 * Returns `{ origin, forwarded, close }`; `forwarded` records each relayed request as
 * `{ method, path, status, refusedStream }`.
 */
export async function startAppProxy({ upstream, secret, shop, site, pathPrefix = "/apps/tryon", now = () => Date.now(), tls, port }) {
  const target = new URL(upstream);
  const forwarded = [];
  const handle = (request, response) => {
    const url = new URL(request.url, "http://storefront.invalid");
    if (url.pathname !== pathPrefix && !url.pathname.startsWith(`${pathPrefix}/`)) {
      site(request, response);
      return;
    }
    const pairs = [...url.searchParams].filter(([key]) => key !== "signature");
    pairs.push(
      ["shop", shop],
      ["logged_in_customer_id", ""],
      ["path_prefix", pathPrefix],
      ["timestamp", String(Math.floor(now() / 1000))],
    );
    const query = new URLSearchParams(pairs);
    query.append("signature", signAppProxyParams(pairs, secret));
    const path = `${target.pathname.replace(/\/$/, "")}${url.pathname.slice(pathPrefix.length)}?${query}`;

    const headers = { ...request.headers };
    delete headers.cookie;
    headers.host = target.host;
    headers["x-forwarded-host"] = request.headers.host;
    headers["x-forwarded-for"] = request.socket.remoteAddress;
    const record = { method: request.method, path: url.pathname, status: 0, refusedStream: false };
    forwarded.push(record);

    const upstreamRequest = httpRequest(
      { host: target.hostname, port: target.port, method: request.method, path, headers },
      (upstreamResponse) => {
        if (String(upstreamResponse.headers["content-type"] || "").startsWith("text/event-stream")) {
          upstreamResponse.destroy();
          record.status = 502;
          record.refusedStream = true;
          response.writeHead(502, { "content-type": "text/plain" }).end("event streams are not relayed");
          return;
        }
        const kept = Object.fromEntries(
          Object.entries(upstreamResponse.headers).filter(([name]) => !STRIPPED_RESPONSE_HEADERS.includes(name)),
        );
        record.status = upstreamResponse.statusCode;
        response.writeHead(upstreamResponse.statusCode, kept);
        upstreamResponse.pipe(response);
      },
    );
    upstreamRequest.on("error", (error) => {
      record.status = 502;
      if (!response.headersSent) response.writeHead(502, { "content-type": "text/plain" });
      response.end(`upstream failed: ${error.message}`);
    });
    request.pipe(upstreamRequest);
  };
  const server = tls ? createTlsServer(tls, handle) : createServer(handle);
  port ??= await freePort();
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    origin: `${tls ? "https" : "http"}://127.0.0.1:${port}`,
    forwarded,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
