// Issue 5: in Shopify's theme editor (`Shopify.designMode`) the widget shows a canned example
// result and never calls the proxy, so setting the block up spends no credit. The page is the
// app block's markup behind the App Proxy stand-in, in front of the real proxy; every request
// the browser makes and everything the App Proxy relays is counted, and must not touch the
// proxy at all.

import assert from "node:assert/strict";
import { test } from "node:test";

import { startAppProxy } from "./app-proxy.mjs";
import { productPage, storefrontSite } from "./shop-fixtures.mjs";
import { launchBrowser, saveArtifact, startProxy, waitFor } from "./util.mjs";

const SECRET = "e2e-app-secret";
const SHOP = "e2e-shop.myshopify.com";

test("in the theme editor the widget shows an example and never calls the proxy", { timeout: 120_000 }, async (t) => {
  const proxy = await startProxy();
  t.after(() => proxy.stop());
  const storefront = await startAppProxy({
    upstream: new URL("/shopify", proxy.url).href,
    secret: SECRET,
    shop: SHOP,
    // As the theme editor renders the page: Shopify.designMode, and tryon-block.js marks the
    // buttons with `design-mode` from it.
    site: storefrontSite(
      productPage({
        garment: new URL("/demo/garment.png", proxy.url).href,
        head: "<script>window.Shopify = { designMode: true };</script>",
      }),
    ),
  });
  t.after(() => storefront.close());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, problems } = browser;
  const proxyOrigin = new URL(proxy.url).origin;
  const toProxy = [];
  page.on("request", (request) => {
    const url = new URL(request.url());
    if (url.origin === proxyOrigin || url.pathname.startsWith("/apps/")) toProxy.push(`${request.method()} ${url}`);
  });
  await page.addInitScript(() => {
    window.__events = [];
    for (const name of ["open", "started", "completed", "failed"]) {
      document.addEventListener(`tryon:${name}`, () => window.__events.push(name));
    }
  });
  const describe = () =>
    `browser requests to the proxy: ${JSON.stringify(toProxy)}\nrelayed by the App Proxy: ${JSON.stringify(storefront.forwarded)}\n` +
    `page problems: ${JSON.stringify(problems)}\n${proxy.describe()}`;

  await page.goto(`${storefront.origin}/products/linen-shirt`);
  await waitFor(() => page.locator("#tryon-button-B1").getAttribute("design-mode").then((v) => v !== null), {
    timeoutMs: 10_000,
    describe: async () => "tryon-block.js did not mark the button with design-mode",
  });
  await page.locator("try-on-button button[part=button]").click();
  await page.locator("try-on-button dialog[part=dialog][open]").waitFor({ timeout: 30_000 });

  const example = await waitFor(
    () =>
      page.evaluate(() => {
        const shadow = document.querySelector("try-on-button").shadowRoot;
        const result = shadow.querySelector("img[part=result]");
        const note = shadow.querySelector("[data-role=example-note]");
        if (!result || !result.complete || result.naturalWidth === 0 || !note) return null;
        return { width: result.naturalWidth, height: result.naturalHeight, note: note.textContent.trim() };
      }),
    { timeoutMs: 30_000, describe: async () => `no example result in the dialog\n${describe()}` },
  );
  await saveArtifact("design-mode-example.png", await page.screenshot());
  assert.deepEqual(example, {
    width: 600,
    height: 800,
    note: "Example result: in the theme editor no photo is sent and no try-on is used.",
  });
  assert.equal(await page.locator("try-on-button input[type=file]").isVisible(), false, "no photo is asked for");

  // Whatever the merchant clicks in the example, nothing goes out.
  await page.locator("try-on-button [data-action=add-to-cart]").click();
  await page.locator("try-on-button dialog[part=dialog][open]").waitFor({ state: "detached", timeout: 10_000 }).catch(() => {});
  assert.equal(await page.locator("try-on-button dialog[part=dialog][open]").count(), 0, "Add to cart closes the example");
  assert.equal(new URL(page.url()).pathname, "/products/linen-shirt", "and submits no product form");
  await page.locator("try-on-button button[part=button]").click();
  await page.locator("try-on-button [data-action=start-over]").click();
  await page.locator("try-on-button [data-action=close]").click();
  await page.locator("try-on-button button[part=button]").click();
  await page.locator("try-on-button img[part=result]").waitFor({ timeout: 10_000 });
  await page.waitForLoadState("networkidle");

  assert.deepEqual(toProxy, [], `the browser asked the proxy nothing\n${describe()}`);
  assert.deepEqual(storefront.forwarded, [], `the App Proxy relayed nothing\n${describe()}`);
  const served = proxy.logsWith("finished processing request").filter((entry) => entry.span?.path !== "/healthz");
  assert.equal(served.length, 0, `the proxy served nothing but the test's health check\n${describe()}`);
  assert.deepEqual(await page.evaluate(() => window.__events), ["open", "open", "open"], "no try-on events for an example");
  assert.deepEqual(problems, [], "the page logged no errors");
});
