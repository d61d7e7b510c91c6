// Issue 4, "loading without hurting the product page": on the demo product page no `.wasm` byte
// is requested before the shopper shows intent, the button is drawn at once at its final size,
// and the page's layout-shift score is 0 — before intent and after the widget has mounted.
// Intent (the pointer entering the button) then fetches the widget's wasm, but not the photo
// module, which waits for the dialog; `preload` fetches it when the page is idle. What the
// dialog needs arrives gzip-encoded, within 100 KB on the wire (issue 4's budget, measured by
// the browser itself; `cargo xtask dist` reports the same files' sizes).
// Real proxy binary, real headless Chromium, the widget's release build.

import assert from "node:assert/strict";
import { test } from "node:test";

import { launchBrowser, startProxy, waitFor } from "./util.mjs";
import { openDialog, widget } from "./widget-flow.mjs";

/** Sums the page's layout shifts (those not caused by input), from the first paint on. */
async function recordLayoutShift(page) {
  await page.addInitScript(() => {
    window.__layoutShift = 0;
    window.__shifts = [];
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        if (entry.hadRecentInput) continue;
        window.__layoutShift += entry.value;
        window.__shifts.push({ value: entry.value, sources: (entry.sources || []).map((s) => s.node?.nodeName) });
      }
    }).observe({ type: "layout-shift", buffered: true });
  });
}

/**
 * What must arrive before the dialog is usable on an English page (loader, glue, wasm, CSS;
 * no locale table) came gzip-encoded, and its bytes on the wire are within issue 4's 100 KB.
 */
async function assertDialogPathArrivedGzipped(responses) {
  const dialogPath = [/\/widget\.js$/, /\/tryon_widget-[0-9a-f]+\.js$/, /\/tryon_widget-[0-9a-f]+\.wasm$/, /\/widget-[0-9a-f]+\.css$/];
  let onTheWire = 0;
  for (const pattern of dialogPath) {
    const response = responses.find((r) => pattern.test(new URL(r.url()).pathname));
    assert.ok(response, `no response for ${pattern}; got ${responses.map((r) => r.url()).join(", ")}`);
    assert.equal(response.headers()["content-encoding"], "gzip", `${response.url()} was not sent gzipped`);
    const { responseBodySize } = await response.request().sizes();
    assert.ok(responseBodySize > 0, `${response.url()}: no body size`);
    onTheWire += responseBodySize;
  }
  assert.ok(onTheWire <= 100_000, `the dialog needed ${onTheWire} bytes on the wire (budget 100,000)`);
}

const wasmRequests = (requests) => requests.filter((url) => new URL(url).pathname.endsWith(".wasm"));

test("the demo page fetches no wasm before intent and never shifts its layout", { timeout: 120_000 }, async (t) => {
  const proxy = await startProxy();
  t.after(() => proxy.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, problems } = browser;
  const requests = [];
  page.on("request", (request) => requests.push(request.url()));
  const responses = [];
  page.on("response", (response) => responses.push(response));
  await recordLayoutShift(page);

  await page.goto(proxy.url, { waitUntil: "load" });
  await page.waitForTimeout(2000); // idle time in which nothing may start loading by itself
  assert.deepEqual(wasmRequests(requests), [], "wasm was requested before any intent");
  const button = await page.evaluate(() => {
    const node = document.querySelector("try-on-button").shadowRoot.querySelector("button[part=button]");
    const rect = node.getBoundingClientRect();
    return { text: node.textContent.trim(), height: rect.height, width: rect.width };
  });
  assert.equal(button.text, "Try it on", "the loader did not draw the button");
  assert.equal(button.height, 44, "the button is not at its final height");
  const shiftBefore = await page.evaluate(() => ({ score: window.__layoutShift, shifts: window.__shifts }));
  assert.equal(shiftBefore.score, 0, `layout shifted before intent: ${JSON.stringify(shiftBefore.shifts)}`);

  // Intent: the pointer enters the button. The widget's wasm is fetched, the photo module not yet.
  await page.hover("try-on-button button[part=button]");
  await waitFor(() => wasmRequests(requests).some((url) => /tryon_widget-[0-9a-f]+\.wasm$/.test(url)), {
    timeoutMs: 15_000,
    describe: async () => `hovering the button fetched no widget wasm; requests: ${requests.join(", ")}`,
  });
  await page.waitForTimeout(1000);
  assert.ok(!wasmRequests(requests).some((url) => /tryon_photo/.test(url)), "the photo module was fetched before the dialog opened");
  const after = await page.evaluate(() => ({ score: window.__layoutShift, shifts: window.__shifts }));
  assert.equal(after.score, 0, `mounting the widget shifted the page: ${JSON.stringify(after.shifts)}`);
  const width = await page.evaluate(() => document.querySelector("try-on-button").shadowRoot.querySelector("button").getBoundingClientRect().width);
  assert.equal(width, button.width, "the button changed size when the widget mounted");
  await assertDialogPathArrivedGzipped(responses);

  await openDialog(page);
  await waitFor(() => wasmRequests(requests).some((url) => /tryon_photo/.test(url)), {
    timeoutMs: 15_000,
    describe: async () => "opening the dialog did not fetch the photo module",
  });
  await page.keyboard.press("Escape");
  await page.waitForTimeout(800); // shifts within 500 ms of a key press count as expected ones

  // The measurement itself: a banner pushed in above the content is seen as a shift.
  await page.evaluate(() => document.body.prepend(Object.assign(document.createElement("div"), { style: "height:120px" })));
  await waitFor(() => page.evaluate(() => window.__layoutShift > 0), {
    timeoutMs: 5000,
    describe: async () => "the layout-shift observer did not see a shift made on purpose",
  });
  assert.deepEqual(problems, [], "the page logged errors");
});

test("with `preload`, the widget's wasm is fetched once the page is idle, without intent", { timeout: 60_000 }, async (t) => {
  const proxy = await startProxy();
  t.after(() => proxy.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, problems } = browser;
  const requests = [];
  page.on("request", (request) => requests.push(request.url()));
  const url = new URL("/test/preload.html", proxy.url).href;
  await page.route(url, (route) =>
    route.fulfill({
      contentType: "text/html",
      body: `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Tee</title>
        <script src="/widget.js" async></script></head><body>
        <try-on-button preload garment="/demo/garment.png"></try-on-button></body></html>`,
    }),
  );
  await page.goto(url, { waitUntil: "load" });
  await waitFor(() => wasmRequests(requests).some((u) => /tryon_widget-/.test(u)), {
    timeoutMs: 15_000,
    describe: async () => `preload fetched no wasm; requests: ${requests.join(", ")}`,
  });
  assert.equal(await widget(page, "dialog[part=dialog][open]").count(), 0, "preload opened the dialog");
  assert.deepEqual(problems, [], "the page logged errors");
});
