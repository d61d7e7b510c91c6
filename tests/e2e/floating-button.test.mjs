// The `floating` attribute (the Shopify app embed's "floating button" setting): a fixed button
// in the bottom-right corner, clear of the screen edge, that stays put while the page scrolls.
// On a phone it is a 56 px round icon (its label kept for screen readers), so it does not lay a
// wide bar over the product's text; on a desktop it shows its label. Measured from the computed
// layout in headless Chromium, on the demo page with a long product description.

import assert from "node:assert/strict";
import { test } from "node:test";

import { launchBrowser, saveArtifact, startProxy } from "./util.mjs";

const EDGE = 16;

/** Adds a floating button and enough content to scroll; returns how the button is laid out. */
async function floatingLayout(page, proxy) {
  await page.goto(proxy.url);
  await page.evaluate(() => {
    const text = document.createElement("div");
    text.id = "long-description";
    text.innerHTML = "<p>Soft, breathable cotton.</p>".repeat(200);
    document.body.append(text);
    const button = document.createElement("try-on-button");
    button.setAttribute("floating", "");
    button.setAttribute("garment", "/demo/garment.png");
    button.id = "floating";
    document.body.append(button);
  });
  const measure = () =>
    page.evaluate(() => {
      const host = document.getElementById("floating");
      const button = host.shadowRoot.querySelector("button[part=button]");
      const rect = button.getBoundingClientRect();
      const label = host.shadowRoot.querySelector("button span");
      return {
        position: getComputedStyle(host).position,
        left: rect.left,
        top: rect.top,
        right: innerWidth - rect.right,
        bottom: innerHeight - rect.bottom,
        width: rect.width,
        height: rect.height,
        labelWidth: label.getBoundingClientRect().width,
        name: button.textContent.trim(),
        zIndexAboveContent: Number(getComputedStyle(host).zIndex) > 1000,
        scrollable: document.documentElement.scrollHeight > innerHeight * 2,
      };
    });
  const before = await measure();
  await page.mouse.wheel(0, 3000);
  await page.waitForFunction(() => scrollY > 1000);
  const after = await measure();
  return { before, after };
}

test("on a phone the floating button is a round icon in the corner that stays put", { timeout: 90_000 }, async (t) => {
  const proxy = await startProxy();
  t.after(() => proxy.stop());
  const browser = await launchBrowser({ viewport: { width: 390, height: 844 } });
  t.after(() => browser.close());
  const { before, after } = await floatingLayout(browser.page, proxy);
  await saveArtifact("floating-phone.png", await browser.page.screenshot());

  assert.ok(before.scrollable, "the page is long enough to scroll");
  assert.equal(before.position, "fixed");
  assert.ok(before.zIndexAboveContent, "above the page's own content");
  assert.deepEqual({ w: before.width, h: before.height }, { w: 56, h: 56 }, "a 56 px round icon, not a wide bar");
  assert.deepEqual({ right: before.right, bottom: before.bottom }, { right: EDGE, bottom: EDGE }, "in the corner, clear of the edges");
  assert.ok(before.labelWidth <= 1, `the label is visually hidden (${before.labelWidth} px)`);
  assert.equal(before.name, "Try it on", "the label still names the button");
  assert.deepEqual(
    { left: after.left, top: after.top },
    { left: before.left, top: before.top },
    "scrolling does not move it",
  );
  assert.deepEqual(browser.problems, []);
});

test("on a desktop the floating button shows its label in the corner", { timeout: 90_000 }, async (t) => {
  const proxy = await startProxy();
  t.after(() => proxy.stop());
  const browser = await launchBrowser({ viewport: { width: 1280, height: 900 } });
  t.after(() => browser.close());
  const { before, after } = await floatingLayout(browser.page, proxy);

  assert.equal(before.position, "fixed");
  assert.equal(before.height, 44);
  assert.ok(before.width > 56 && before.labelWidth > 30, `the label shows (${before.width} px wide)`);
  assert.deepEqual({ right: before.right, bottom: before.bottom }, { right: EDGE, bottom: EDGE });
  assert.deepEqual({ left: after.left, top: after.top }, { left: before.left, top: before.top });
});
