// The app block's script (www/shopify/assets/tryon-block.js) in headless Chromium, on a page
// built like a Shopify product page: a product form posting to /cart/add with the `id` field
// themes keep in step with the variant picker, and the markup the app block renders (pinned by
// proxy/tests/shopify_liquid.rs). Shopify loads the schema's "javascript" as a deferred script;
// so does this page. No proxy is involved: the script only moves attributes.

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import path from "node:path";
import { after, before, test } from "node:test";

import { freePort, launchBrowser, repoRoot, waitFor } from "./util.mjs";

const BLUE = "//127.0.0.1/cdn/shop/files/shirt-blue.jpg?v=1&width=1024";
const RED = "//127.0.0.1/cdn/shop/files/shirt-red.jpg?v=2&width=1024";

/** The app block's markup as the Liquid renders it (variant image mode, block id B1). */
function appBlock() {
  return `
    <div class="tryon-block" data-tryon-loader="/assets/widget.js" data-shopify-editor-block="{}">
      <try-on-button id="tryon-button-B1" garment="${BLUE}" category="upper" product="Linen shirt"
        label="Try it on" data-variant-images="tryon-variants-B1" style="--tryon-accent: #ff0055;"></try-on-button>
      <script type="application/json" id="tryon-variants-B1">{"111":"${BLUE}","222":"${RED}","333":null}</script>
    </div>`;
}

/**
 * A product page. `picker` chooses how the theme reacts to the colour radios:
 * "dawn" sets the hidden `id` and dispatches `change` on it (as Dawn does);
 * "async" sets it a moment later and announces `variant:change` on the document.
 */
function productPage({ picker = "dawn", embed = true, floating = false, designMode = false, block = true } = {}) {
  const update =
    picker === "dawn"
      ? `id.value = radio.value; id.dispatchEvent(new Event("change", { bubbles: true }));`
      : `setTimeout(() => { id.value = radio.value; document.dispatchEvent(new CustomEvent("variant:change")); }, 50);`;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Linen shirt</title>
    ${designMode ? `<script>window.Shopify = { designMode: true };</script>` : ""}
    ${block ? `<script src="/assets/tryon-block.js" defer></script>` : ""}
    </head><body>
    <div class="shopify-section" id="shopify-section-main-product">
      <h1>Linen shirt</h1>
      <form method="post" action="/cart/add" id="product-form">
        <input type="hidden" name="id" value="111">
        <fieldset id="picker"><legend>Colour</legend>
          <label><input type="radio" name="Colour" value="111" checked> Blue</label>
          <label><input type="radio" name="Colour" value="222"> Red</label>
          <label><input type="radio" name="Colour" value="333"> Sand</label>
        </fieldset>
        <button type="submit">Add to cart</button>
      </form>
      ${block ? appBlock() : ""}
    </div>
    <script>
      document.getElementById("picker").addEventListener("change", (event) => {
        const radio = event.target, id = document.querySelector('#product-form [name="id"]');
        ${update}
      });
    </script>
    ${embed ? `<script src="/assets/widget.js" data-tryon-loader data-proxy="/a/try" data-locale="fr" async></script>` : ""}
    ${floating ? `<try-on-button floating garment="${BLUE}" product="Linen shirt"></try-on-button>` : ""}
    </body></html>`;
}

let server;
let origin;
let browser;
const loaderRequests = [];

before(async () => {
  const blockScript = await readFile(path.join(repoRoot, "www/shopify/assets/tryon-block.js"));
  server = createServer((request, response) => {
    const url = new URL(request.url, "http://127.0.0.1");
    if (url.pathname === "/assets/tryon-block.js") {
      response.writeHead(200, { "content-type": "text/javascript" }).end(blockScript);
    } else if (url.pathname === "/assets/widget.js") {
      // Stands in for the widget's loader: records that it ran and with which settings.
      loaderRequests.push(url.pathname);
      response
        .writeHead(200, { "content-type": "text/javascript" })
        .end(`window.loaderRan = (window.loaderRan || 0) + 1;
              window.loaderProxy = document.currentScript.getAttribute("data-proxy");`);
    } else if (url.pathname === "/product") {
      const options = JSON.parse(url.searchParams.get("options") || "{}");
      response.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(productPage(options));
    } else {
      response.writeHead(404).end();
    }
  });
  const port = await freePort();
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${port}`;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
});

async function open(options = {}) {
  const { page } = browser;
  await page.goto(`${origin}/product?options=${encodeURIComponent(JSON.stringify(options))}`);
  await page.waitForFunction(() => window.__tryonBlock === true, null, { timeout: 5000 });
  return page;
}

const garment = (page) => page.getAttribute("#tryon-button-B1", "garment");

async function expectGarment(page, expected, when) {
  await waitFor(async () => (await garment(page)) === expected, {
    timeoutMs: 3000,
    describe: async () => `${when}: garment is ${await garment(page)}, expected ${expected}`,
  });
}

test("choosing another colour changes the garment to that variant's image (Dawn-style picker)", async () => {
  const page = await open();
  assert.equal(await garment(page), BLUE);
  await page.check('input[name="Colour"][value="222"]');
  await expectGarment(page, RED, "after choosing red");
  await page.check('input[name="Colour"][value="111"]');
  await expectGarment(page, BLUE, "after choosing blue again");
});

test("a theme that updates the form later and fires variant:change is followed too", async () => {
  const page = await open({ picker: "async" });
  await page.check('input[name="Colour"][value="222"]');
  await expectGarment(page, RED, "after choosing red");
});

test("a variant without an image keeps the last garment rather than clearing it", async () => {
  const page = await open();
  await page.check('input[name="Colour"][value="222"]');
  await expectGarment(page, RED, "after choosing red");
  await page.check('input[name="Colour"][value="333"]');
  await page.waitForFunction(() => document.querySelector('[name="id"]').value === "333");
  await page.evaluate(() => new Promise((resolve) => setTimeout(resolve, 50)));
  assert.equal(await garment(page), RED);
});

test("the ?variant= of a shared link picks the garment when the form has no id yet", async () => {
  const { page } = browser;
  await page.goto(`${origin}/product?variant=222`);
  await page.waitForFunction(() => window.__tryonBlock === true);
  await page.evaluate(() => {
    document.querySelector('[name="id"]').value = "";
    document.dispatchEvent(new CustomEvent("variant:change"));
  });
  await expectGarment(page, RED, "with ?variant=222 and an empty form");
});

test("in the theme editor every button is marked design-mode", async () => {
  const page = await open({ designMode: true, floating: true, embed: true, block: true });
  assert.equal(await page.getAttribute("#tryon-button-B1", "design-mode"), "");
  const plain = await open();
  assert.equal(await plain.getAttribute("#tryon-button-B1", "design-mode"), null, "outside the editor: no design-mode");
});

test("the embed's floating button goes away where the block shows a button", async () => {
  const page = await open({ floating: true });
  assert.equal(await page.locator("try-on-button[floating]").count(), 0);
  assert.equal(await page.locator("try-on-button").count(), 1);
});

test("the block's buttons take the app embed's proxy and language", async () => {
  const page = await open({ embed: true });
  assert.equal(await page.getAttribute("#tryon-button-B1", "proxy"), "/a/try");
  assert.equal(await page.getAttribute("#tryon-button-B1", "locale"), "fr");
  const alone = await open({ embed: false });
  assert.equal(await alone.getAttribute("#tryon-button-B1", "proxy"), "/apps/tryon", "the App Proxy path without the embed");
  assert.equal(await alone.getAttribute("#tryon-button-B1", "locale"), null, "the page's language without the embed");
});

test("the block loads the loader itself only when the app embed is off", async () => {
  loaderRequests.length = 0;
  let page = await open({ embed: true });
  await page.waitForFunction(() => window.loaderRan === 1);
  assert.equal(await page.locator("script[data-tryon-loader]").count(), 1, "the embed's loader only");

  page = await open({ embed: false });
  await page.waitForFunction(() => window.loaderRan === 1);
  assert.equal(await page.evaluate(() => window.loaderProxy), "/apps/tryon", "the App Proxy path by default");
  assert.equal(await page.locator("script[data-tryon-loader]").count(), 1);
  assert.deepEqual(loaderRequests, ["/assets/widget.js", "/assets/widget.js"], "one load per page");
  assert.deepEqual(browser.problems, []);
});
