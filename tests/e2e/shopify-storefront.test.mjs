// Issue 5's Shopify end-to-end test: a product page built like a Shopify theme's (a product form
// posting to /cart/add, a colour picker that updates `input[name="id"]`, the app block's markup
// and script, the app embed's loader tag), served behind the App Proxy stand-in
// (app-proxy.mjs: signed query, cookies stripped, no event streams) in front of the real proxy
// binary, in headless Chromium with the widget's release build served from the extension's
// assets/ as Shopify's CDN would. A shopper tries the blue shirt on, picks red, tries again, and
// the second try-on uses the red variant's image; Add to cart then submits the product form.
//
// The stand-in forwards to the proxy's `/shopify` (the App Proxy's target URL), where every
// request must carry a valid signature for a shop in TRYON_SHOPIFY_SHOPS, so the whole try-on
// also proves the signing, the relaying (same origin, no cookies, no streaming, so polling) and
// the proxy's verification agree.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";

import { startAppProxy } from "./app-proxy.mjs";
import { freePort, launchBrowser, paths, repoRoot, saveArtifact, waitFor } from "./util.mjs";

const APP_PROXY_TARGET = "/shopify";
const SECRET = "e2e-app-secret";
const SHOP = "e2e-shop.myshopify.com";
const EXTENSION_ASSETS = path.join(repoRoot, "www/shopify/assets");
const CONTENT_TYPES = { ".js": "text/javascript", ".wasm": "application/wasm", ".css": "text/css" };

/** The proxy binary with the local compositor, demo garments read from `wwwDir/demo/`. */
async function spawnProxy(wwwDir) {
  assert.ok(existsSync(paths.proxyBin), `proxy binary not found at ${paths.proxyBin}: run cargo build -p tryon-proxy`);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !/^TRYON_|_API_KEY$|_BASE_URL$|^SHOPIFY_/.test(key)),
  );
  const child = spawn(
    paths.proxyBin,
    [
      "--listen", `127.0.0.1:${port}`, "--demo", "--www-dir", wwwDir, "--assets-dir", paths.distDir,
      "--local-duration-ms", "600",
      // Its own store: rate-limit buckets spent by earlier runs must not refuse this shopper.
      "--data-dir", path.join(wwwDir, "data"),
    ],
    {
      cwd: repoRoot,
      env: { ...env, RUST_LOG: "info", SHOPIFY_API_SECRET: SECRET, TRYON_SHOPIFY_SHOPS: SHOP },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let log = "";
  child.stderr.on("data", (chunk) => (log = (log + chunk).slice(-20_000)));
  const describe = () => `proxy log (tail):\n${log}`;
  await waitFor(
    async () => {
      assert.equal(child.exitCode, null, `the proxy exited early\n${describe()}`);
      return fetch(`${url}/healthz`).then((r) => r.ok, () => false);
    },
    { timeoutMs: 15_000, describe },
  );
  return { url, describe, stop: () => child.kill() };
}

/** Draws, in the page, a standing figure (JPEG) and a shirt in each colour (PNG). */
async function drawPictures(page) {
  const pictures = await page.evaluate(async () => {
    const encode = async (canvas, type) => {
      const blob = await canvas.convertToBlob({ type, quality: 0.92 });
      return [...new Uint8Array(await blob.arrayBuffer())];
    };
    const person = new OffscreenCanvas(900, 1350);
    let ctx = person.getContext("2d");
    const [w, h] = [900, 1350];
    ctx.fillStyle = "#e8ebef";
    ctx.fillRect(0, 0, w, h);
    ctx.fillStyle = "#c68d6b";
    ctx.beginPath();
    ctx.arc(w * 0.5, h * 0.22, w * 0.09, 0, 2 * Math.PI);
    ctx.fill();
    ctx.fillRect(w * 0.28, h * 0.32, w * 0.07, h * 0.3);
    ctx.fillRect(w * 0.65, h * 0.32, w * 0.07, h * 0.3);
    ctx.fillStyle = "#2e4a66";
    ctx.fillRect(w * 0.35, h * 0.3, w * 0.3, h * 0.33);
    ctx.fillStyle = "#303030";
    ctx.fillRect(w * 0.37, h * 0.63, w * 0.12, h * 0.32);
    ctx.fillRect(w * 0.51, h * 0.63, w * 0.12, h * 0.32);
    const shirt = async (colour) => {
      const canvas = new OffscreenCanvas(600, 600);
      ctx = canvas.getContext("2d");
      ctx.fillStyle = "#ffffff";
      ctx.fillRect(0, 0, 600, 600);
      ctx.fillStyle = colour;
      ctx.fillRect(180, 90, 240, 450);
      ctx.fillRect(75, 90, 105, 150);
      ctx.fillRect(420, 90, 105, 150);
      return encode(canvas, "image/png");
    };
    return { person: await encode(person, "image/jpeg"), blue: await shirt("#1f4fd1"), red: await shirt("#d11f2a") };
  });
  return Object.fromEntries(Object.entries(pictures).map(([name, bytes]) => [name, Buffer.from(bytes)]));
}

/** The product page as a Shopify theme renders it with the app block and app embed. */
function productPage(images) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Linen shirt</title>
    <script src="/cdn/assets/tryon-block.js" defer></script></head><body>
    <div class="shopify-section" id="shopify-section-main-product">
      <h1>Linen shirt</h1>
      <form method="post" action="/cart/add" id="product-form">
        <input type="hidden" name="id" value="111">
        <input type="hidden" name="quantity" value="1">
        <fieldset id="picker"><legend>Colour</legend>
          <label><input type="radio" name="Colour" value="111" checked> Blue</label>
          <label><input type="radio" name="Colour" value="222"> Red</label>
        </fieldset>
        <button type="submit" id="add-to-cart">Add to cart</button>
      </form>
      <div class="tryon-block" data-tryon-loader="/cdn/assets/widget.js">
        <try-on-button id="tryon-button-B1" garment="${images.blue}" category="upper" product="Linen shirt"
          label="Try it on" data-variant-images="tryon-variants-B1"></try-on-button>
        <script type="application/json" id="tryon-variants-B1">{"111":"${images.blue}","222":"${images.red}"}</script>
      </div>
    </div>
    <script>
      document.cookie = "cart=storefront-cookie; path=/";
      document.getElementById("picker").addEventListener("change", (event) => {
        const id = document.querySelector('#product-form [name="id"]');
        id.value = event.target.value;
        id.dispatchEvent(new Event("change", { bubbles: true }));
      });
    </script>
    <script src="/cdn/assets/widget.js" data-tryon-loader data-proxy="/apps/tryon" data-locale="en" async></script>
    </body></html>`;
}

/** Records the garment_url of every try-on the page uploads. */
async function recordGarmentUrls(page) {
  await page.addInitScript(() => {
    const { send } = XMLHttpRequest.prototype;
    window.__garmentUrls = [];
    XMLHttpRequest.prototype.send = function (body) {
      // A create: the photo itself goes up on its own (POST /v1/photos) and has no garment.
      if (body instanceof FormData && body.has("garment_url")) window.__garmentUrls.push(body.get("garment_url"));
      return send.call(this, body);
    };
  });
}

async function tryOn(page, photoPath, artifact, describe) {
  const root = "try-on-button";
  await page.locator(`${root} button[part=button]`).click();
  await page.locator(`${root} dialog[part=dialog][open]`).waitFor({ timeout: 30_000 });
  const startOver = page.locator(`${root} [data-action=start-over]`);
  if (await startOver.isVisible()) await startOver.click();
  await page.locator(`${root} input[type=file]`).setInputFiles(photoPath);
  const before = await page.evaluate(() => window.__garmentUrls.length);
  await page.locator(`${root} [data-action=submit]`).click({ timeout: 60_000 });
  await waitFor(() => page.evaluate((n) => window.__garmentUrls.length > n, before), {
    timeoutMs: 30_000,
    describe: async () => `no try-on was uploaded\n${describe()}`,
  });
  const outcome = await waitFor(
    () =>
      page.evaluate(() => {
        const shadow = document.querySelector("try-on-button").shadowRoot;
        const result = shadow.querySelector("img[part=result]");
        if (result && result.complete && result.naturalWidth > 0) return { result: true };
        const error = shadow.querySelector("[data-role=error]");
        const text = error && !error.closest("[hidden]") ? error.textContent.trim() : "";
        return text ? { error: text } : null;
      }),
    { timeoutMs: 60_000, describe: async () => `no result and no error in the dialog\n${describe()}` },
  );
  assert.ok(!outcome.error, `the widget showed an error: "${outcome.error}"\n${describe()}`);
  await saveArtifact(artifact, await page.screenshot());
  const torso = await page.evaluate(() => {
    const result = document.querySelector("try-on-button").shadowRoot.querySelector("img[part=result]");
    const canvas = new OffscreenCanvas(result.naturalWidth, result.naturalHeight);
    const ctx = canvas.getContext("2d");
    ctx.drawImage(result, 0, 0);
    const [r, , b] = ctx.getImageData(Math.round(result.naturalWidth * 0.5), Math.round(result.naturalHeight * 0.45), 1, 1).data;
    return r > b + 60 ? "red" : b > r + 60 ? "blue" : `rgb ${r},${b}`;
  });
  await page.locator(`${root} [data-action=close]`).click();
  return { garmentUrl: await page.evaluate(() => window.__garmentUrls.at(-1)), torso };
}

test("a shopper tries on two colours through the App Proxy and adds the chosen one to the cart", { timeout: 240_000 }, async (t) => {
  assert.ok(
    existsSync(path.join(EXTENSION_ASSETS, "widget.js")),
    "www/shopify/assets/widget.js is missing: cargo xtask dist copies the built widget there",
  );
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, problems } = browser;
  const pictures = await drawPictures(page);

  const wwwDir = await mkdtemp(path.join(tmpdir(), "tryon-e2e-shop-"));
  t.after(() => rm(wwwDir, { recursive: true, force: true }));
  await mkdir(path.join(wwwDir, "demo"));
  await writeFile(path.join(wwwDir, "demo/shirt-blue.png"), pictures.blue);
  await writeFile(path.join(wwwDir, "demo/shirt-red.png"), pictures.red);
  const photoPath = await saveArtifact("shopify-person.jpg", pictures.person);

  const proxy = await spawnProxy(wwwDir);
  t.after(() => proxy.stop());
  // Shopify's image_url gives protocol-relative URLs; the widget resolves them.
  const host = new URL(proxy.url).host;
  const images = { blue: `//${host}/demo/shirt-blue.png`, red: `//${host}/demo/shirt-red.png` };

  const cartPosts = [];
  const storefront = await startAppProxy({
    upstream: `${proxy.url}${APP_PROXY_TARGET}`,
    secret: SECRET,
    shop: SHOP,
    site: async (request, response) => {
      const url = new URL(request.url, "http://storefront.invalid");
      if (url.pathname === "/products/linen-shirt") {
        response.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(productPage(images));
      } else if (url.pathname.startsWith("/cdn/assets/")) {
        const file = path.join(EXTENSION_ASSETS, path.basename(url.pathname));
        const body = await readFile(file).catch(() => null);
        if (!body) return response.writeHead(404).end();
        response.writeHead(200, { "content-type": CONTENT_TYPES[path.extname(file)] || "application/octet-stream" }).end(body);
      } else if (url.pathname === "/cart/add" && request.method === "POST") {
        let body = "";
        request.on("data", (chunk) => (body += chunk));
        request.on("end", () => {
          cartPosts.push(new URLSearchParams(body));
          response.writeHead(200, { "content-type": "text/html" }).end("<h1>Your cart</h1>");
        });
      } else {
        response.writeHead(404).end();
      }
    },
  });
  t.after(() => storefront.close());
  const describe = () =>
    `relayed by the App Proxy: ${JSON.stringify(storefront.forwarded)}\npage problems: ${JSON.stringify(problems)}\n${proxy.describe()}`;

  await recordGarmentUrls(page);
  await page.goto(`${storefront.origin}/products/linen-shirt`);
  assert.equal(await page.getAttribute("#tryon-button-B1", "proxy"), "/apps/tryon", "the embed's proxy reached the button");

  const first = await tryOn(page, photoPath, "shopify-tryon-blue.png", describe);
  assert.equal(first.garmentUrl, `http:${images.blue}`, "the first try-on uses the selected (blue) variant's image");
  assert.equal(first.torso, "blue", "the first result wears the blue shirt");

  await page.check('input[name="Colour"][value="222"]');
  await waitFor(async () => (await page.getAttribute("#tryon-button-B1", "garment")) === images.red, {
    timeoutMs: 5000,
    describe: async () => `the garment did not follow the variant: ${await page.getAttribute("#tryon-button-B1", "garment")}`,
  });
  const second = await tryOn(page, photoPath, "shopify-tryon-red.png", describe);
  assert.equal(second.garmentUrl, `http:${images.red}`, "after choosing red, the next try-on uses the red variant's image");
  assert.equal(second.torso, "red", "the second result wears the red shirt");

  const relayed = storefront.forwarded;
  assert.ok(relayed.some((r) => r.method === "POST" && r.path === "/apps/tryon/v1/tryons" && r.status === 202), describe());
  assert.ok(
    relayed.some((r) => /^\/apps\/tryon\/v1\/tryons\/[^/]+$/.test(r.path) && r.status === 200),
    `the widget never polled through the App Proxy\n${describe()}`,
  );
  assert.ok(relayed.some((r) => r.refusedStream), `the widget never tried the event stream\n${describe()}`);

  await page.locator("#add-to-cart").click();
  await waitFor(() => cartPosts.length === 1, { timeoutMs: 5000, describe: async () => "Add to cart did not submit the product form" });
  assert.equal(cartPosts[0].get("id"), "222", "the product form submits the chosen variant");
  assert.equal(cartPosts[0].get("quantity"), "1");

  const unexpected = problems.filter((p) => !/502|\/events/.test(p));
  assert.deepEqual(unexpected, [], "no page errors besides the refused event stream");
});
