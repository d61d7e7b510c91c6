// Issue 5's direct event stream, end to end: the storefront is an https shop page behind the App
// Proxy stand-in (app-proxy.mjs: signed query, cookies stripped, event streams NOT relayed), the
// proxy runs with TRYON_PUBLIC_URL, so a create relayed by the App Proxy answers with
// `stream.url`: the task's event stream on the proxy's own origin with a short-lived signed
// token. A recording relay stands in front of that origin, so the test sees what the browser
// asked for there.
//
// 1. Reachable: the widget follows the task over the direct stream (the proxy answers it with
//    CORS for the shop's origin) and never polls through the App Proxy.
// 2. Blocked: the relay swallows the stream (accepts, never answers); after the widget's
//    first-event timeout it polls `GET /apps/tryon/v1/tryons/{id}` through the App Proxy and
//    the shopper still gets her result.

import assert from "node:assert/strict";
import { test } from "node:test";

import { startAppProxy } from "./app-proxy.mjs";
import {
  drawPerson,
  productPage,
  startRecordingRelay,
  storefrontSite,
  throwawayCertificate,
  waitForOutcome,
} from "./shop-fixtures.mjs";
import { freePort, launchBrowser, saveArtifact, startProxy } from "./util.mjs";

const SECRET = "e2e-app-secret";
const SHOP = "e2e-shop.myshopify.com";
const TASK_PATH = /^\/apps\/tryon\/v1\/tryons\/[^/]+$/;

/** The shop: relay → proxy (with the direct-stream origin set to the relay), App Proxy over https. */
async function openShop(t, { hold }) {
  const relay = await startRecordingRelay({ hold });
  t.after(() => relay.close());
  // The storefront runs on a loopback port, so its origin (X-Forwarded-Host with the port) is
  // taken only when listed exactly, as a merchant lists a custom storefront domain.
  const storefrontPort = await freePort();
  const proxy = await startProxy({
    localDurationMs: 1500,
    env: {
      SHOPIFY_API_SECRET: SECRET,
      TRYON_SHOPIFY_SHOPS: SHOP,
      TRYON_PUBLIC_URL: relay.url,
      TRYON_ALLOWED_ORIGINS: `https://127.0.0.1:${storefrontPort}`,
    },
  });
  t.after(() => proxy.stop());
  relay.forwardTo(proxy.url);
  const garment = new URL("/demo/garment.png", proxy.url).href;
  const storefront = await startAppProxy({
    upstream: new URL("/shopify", proxy.url).href,
    secret: SECRET,
    shop: SHOP,
    tls: await throwawayCertificate(),
    site: storefrontSite(productPage({ garment })),
    port: storefrontPort,
  });
  t.after(() => storefront.close());
  const browser = await launchBrowser({ ignoreHTTPSErrors: true });
  t.after(() => browser.close());
  const describe = () =>
    `relayed by the App Proxy: ${JSON.stringify(storefront.forwarded)}\n` +
    `seen on the proxy's own origin: ${JSON.stringify(relay.seen)}\n` +
    `page problems: ${JSON.stringify(browser.problems)}\n${proxy.describe()}`;
  return { relay, proxy, storefront, browser, describe };
}

/** Opens the shop page, picks a photo, presses Try it on and waits for the result. */
async function tryOn({ browser, storefront, describe }, artifact) {
  const { page } = browser;
  await page.goto(`${storefront.origin}/products/linen-shirt`);
  const photo = await saveArtifact("direct-stream-person.jpg", await drawPerson(page, { width: 900, height: 1350 }));
  await page.locator("try-on-button button[part=button]").click();
  await page.locator("try-on-button dialog[part=dialog][open]").waitFor({ timeout: 30_000 });
  await page.locator("try-on-button input[type=file]").setInputFiles(photo);
  await page.locator("try-on-button [data-action=submit]").click({ timeout: 60_000 });
  const outcome = await waitForOutcome(page, describe, 60_000);
  await saveArtifact(artifact, await page.screenshot());
  assert.ok(!outcome.error, `the widget showed an error: "${outcome.error}"\n${describe()}`);
}

/** The stream requests the browser made on the proxy's own origin, each with its token. */
function directStreams(relay) {
  return relay.seen
    .map((record) => ({ ...record, url: new URL(record.url, relay.url) }))
    .filter((record) => record.method === "GET" && /^\/v1\/tryons\/[^/]+\/events$/.test(record.url.pathname));
}

test("behind the App Proxy the widget follows the task on the direct stream", { timeout: 180_000 }, async (t) => {
  const shop = await openShop(t, { hold: false });
  await tryOn(shop, "direct-stream-result.png");
  const { relay, storefront, describe } = shop;

  const created = storefront.forwarded.filter((r) => r.method === "POST" && r.path === "/apps/tryon/v1/tryons");
  assert.equal(created.length, 1, `one create through the App Proxy\n${describe()}`);
  const streams = directStreams(relay);
  assert.equal(streams.length, 1, `the widget opened one direct stream\n${describe()}`);
  const [stream] = streams;
  assert.match(stream.url.searchParams.get("stream_token") || "", /^[\w-]+\.[\w-]+$/, `the stream carries the signed token\n${describe()}`);
  assert.equal(stream.origin, storefront.origin, "the stream is a CORS request from the shop's own origin");
  assert.equal(stream.status, 200, `the proxy accepted the token and streamed\n${describe()}`);
  assert.ok(!storefront.forwarded.some((r) => r.refusedStream), `the relayed events link was not tried\n${describe()}`);
  assert.ok(
    !storefront.forwarded.some((r) => r.method === "GET" && TASK_PATH.test(r.path)),
    `no polling through the App Proxy while the stream works\n${describe()}`,
  );
  assert.deepEqual(shop.browser.problems, [], "the page logged no errors");
});

test("when the direct stream stays silent, the widget polls through the App Proxy", { timeout: 180_000 }, async (t) => {
  const shop = await openShop(t, { hold: true });
  await tryOn(shop, "direct-stream-blocked-result.png");
  const { relay, storefront, describe } = shop;

  const streams = directStreams(relay);
  assert.ok(streams.length >= 1, `the widget tried the direct stream first\n${describe()}`);
  assert.ok(streams[0].url.searchParams.get("stream_token"), `with its token\n${describe()}`);
  assert.equal(streams[0].status, 0, "the stream never got an answer");
  const polls = storefront.forwarded.filter((r) => r.method === "GET" && TASK_PATH.test(r.path));
  assert.ok(polls.length >= 1, `the widget polled through the App Proxy\n${describe()}`);
  assert.ok(polls.every((r) => r.status === 200), `every poll answered 200\n${describe()}`);
});
