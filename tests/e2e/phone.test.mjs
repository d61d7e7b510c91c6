// Issue 4, "on a phone": at 390×844 with touch emulation (hasTouch, isMobile) a shopper does the
// whole try-on with taps — the button, the photo picker (through the file chooser the tap
// opens), Try it on, the comparison, Close — and the dialog is a full-screen sheet that fits the
// viewport with large touch targets. Each state is saved as a screenshot artifact.
// Real proxy binary, real headless Chromium, the widget's release build.

import assert from "node:assert/strict";
import { test } from "node:test";

import { launchBrowser, saveArtifact, startProxy, waitFor } from "./util.mjs";
import { PERSON, dialogState, openDialog, waitForResult, widget } from "./widget-flow.mjs";

const PHONE = { width: 390, height: 844 };

/** The dialog's box, whether anything overflows it sideways, and the smallest visible control. */
async function sheetLayout(page) {
  return page.evaluate(() => {
    const root = document.querySelector("try-on-button").shadowRoot;
    const dialog = root.querySelector("dialog[open]");
    const box = dialog.getBoundingClientRect();
    const controls = [...root.querySelectorAll("dialog button, dialog label.pick, dialog a[data-action]")]
      .filter((node) => node.getClientRects().length > 0)
      .map((node) => {
        const rect = node.getBoundingClientRect();
        return { name: node.dataset.action || node.className, width: rect.width, height: rect.height };
      });
    return {
      box: { x: box.x, y: box.y, width: box.width, height: box.height },
      sideways: dialog.scrollWidth > dialog.clientWidth,
      smallest: controls.sort((a, b) => a.height - b.height)[0],
      viewport: { width: innerWidth, height: innerHeight },
    };
  });
}

function assertSheet(layout, state) {
  assert.deepEqual(
    layout.box,
    { x: 0, y: 0, width: layout.viewport.width, height: layout.viewport.height },
    `${state}: the dialog is not a full-screen sheet`,
  );
  assert.equal(layout.sideways, false, `${state}: the sheet scrolls sideways`);
  assert.ok(layout.smallest.height >= 44, `${state}: a control is smaller than a touch target: ${JSON.stringify(layout.smallest)}`);
}

test("a shopper on a phone tries on with taps in a full-screen sheet", { timeout: 240_000 }, async (t) => {
  const proxy = await startProxy({ localDurationMs: 1500 });
  t.after(() => proxy.stop());
  const browser = await launchBrowser({ viewport: PHONE, device: { hasTouch: true, isMobile: true, deviceScaleFactor: 2 } });
  t.after(() => browser.close());
  const { page, problems } = browser;
  const describe = () => `page problems: ${JSON.stringify(problems)}\n${proxy.describe()}`;

  await page.goto(proxy.url);
  assert.equal(await page.evaluate(() => matchMedia("(pointer: coarse)").matches), true, "touch emulation is off");
  await saveArtifact("phone-1-product-page.png", await page.screenshot());
  await openDialog(page, { tap: true });
  assertSheet(await sheetLayout(page), "open");
  await saveArtifact("phone-2-open.png", await page.screenshot());

  // The picker is a label over a file input: a tap opens the phone's chooser (camera or library).
  const [chooser] = await Promise.all([page.waitForEvent("filechooser"), widget(page, "label.pick").tap()]);
  assert.equal(await chooser.element().getAttribute("accept"), "image/*", "the chooser does not offer the camera and library");
  await chooser.setFiles(PERSON);
  await widget(page, "[data-action=submit]:not([disabled])").waitFor({ timeout: 60_000 });
  assertSheet(await sheetLayout(page), "photo ready");
  await saveArtifact("phone-3-photo-ready.png", await page.screenshot());

  await widget(page, "[data-action=submit]").tap();
  await waitFor(async () => (await widget(page, "[part=progress]").getAttribute("value")) > 40, {
    timeoutMs: 30_000,
    describe: async () => `the try-on never started: ${await dialogState(page)}`,
  });
  assertSheet(await sheetLayout(page), "running");
  await saveArtifact("phone-4-running.png", await page.screenshot());

  await waitForResult(page, describe);
  assertSheet(await sheetLayout(page), "result");
  const frame = await widget(page, ".result-frame").boundingBox();
  assert.ok(frame.y + frame.height <= PHONE.height, "the result picture does not fit on the screen");
  // A tap on the picture moves the comparison's divider there.
  await page.touchscreen.tap(frame.x + frame.width * 0.25, frame.y + frame.height / 2);
  const value = Number(await widget(page, "input[data-action=compare]").inputValue());
  assert.ok(Math.abs(value - 25) <= 6, `a tap at a quarter of the picture left the divider at ${value}`);
  await saveArtifact("phone-5-result.png", await page.screenshot());

  await widget(page, "[data-action=close]").tap();
  await widget(page, "dialog[part=dialog]:not([open])").waitFor({ state: "attached", timeout: 5000 });
  assert.deepEqual(problems, [], "the page logged errors");
});
