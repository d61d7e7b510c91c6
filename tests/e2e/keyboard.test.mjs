// Issue 4, "the whole flow works from the keyboard": on the demo product page a shopper reaches
// the button with Tab, opens the dialog with Enter, picks the photo from the focused picker
// (Space opens the chooser), sends it, moves the comparison with the arrow keys, and closes with
// Esc; focus moves into the dialog, never reaches the page behind it while it is open, and
// returns to the button. Real proxy binary, real headless Chromium.

import assert from "node:assert/strict";
import { test } from "node:test";

import { launchBrowser, startProxy, waitFor } from "./util.mjs";
import { PERSON, dialogState, waitForResult, widget } from "./widget-flow.mjs";

/** Where focus is: "page:<tag>" outside the widget, "widget:<selector-ish>" inside its shadow
 * root (with whether that is inside the open dialog), or "none" (the browser's own UI). */
async function focus(page) {
  return page.evaluate(() => {
    const host = document.querySelector("try-on-button");
    const active = document.activeElement;
    if (!active || active === document.body) return { where: "none" };
    if (active !== host) return { where: `page:${active.tagName.toLowerCase()}` };
    const inner = host.shadowRoot.activeElement;
    if (!inner) return { where: "widget:host" };
    return {
      where: `widget:${inner.tagName.toLowerCase()}${inner.dataset.action ? `[data-action=${inner.dataset.action}]` : ""}${inner.getAttribute("part") ? `[part=${inner.getAttribute("part")}]` : ""}${inner.type ? `[type=${inner.type}]` : ""}`,
      inDialog: !!inner.closest("dialog[open]"),
    };
  });
}

/** Presses Tab until focus is on `where`; fails naming every stop on the way. */
async function tabTo(page, where, { max = 40 } = {}) {
  const stops = [];
  for (let i = 0; i < max; i += 1) {
    const now = await focus(page);
    if (now.where === where) return stops;
    stops.push(now.where);
    await page.keyboard.press("Tab");
  }
  throw new Error(`Tab never reached ${where}; stops: ${stops.join(" → ")}`);
}

test("the whole try-on works from the keyboard, with focus trapped and returned", { timeout: 180_000 }, async (t) => {
  const proxy = await startProxy({ localDurationMs: 500 });
  t.after(() => proxy.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, problems } = browser;
  const describe = () => `page problems: ${JSON.stringify(problems)}\n${proxy.describe()}`;

  await page.goto(proxy.url);
  await tabTo(page, "widget:button[part=button][type=button]");
  await page.keyboard.press("Enter");
  await widget(page, "dialog[part=dialog][open]").waitFor({ timeout: 30_000 });
  await waitFor(async () => (await focus(page)).inDialog, {
    timeoutMs: 5000,
    describe: async () => `focus did not move into the dialog: ${JSON.stringify(await focus(page))}`,
  });

  // Trapped: a full round of Tab never lands on the page behind the modal dialog.
  const round = [];
  for (let i = 0; i < 8; i += 1) {
    await page.keyboard.press("Tab");
    round.push((await focus(page)).where);
  }
  assert.ok(!round.some((where) => where.startsWith("page:")), `Tab left the dialog for the page: ${round.join(" → ")}`);

  await tabTo(page, "widget:input[type=file]");
  const [chooser] = await Promise.all([page.waitForEvent("filechooser"), page.keyboard.press("Space")]);
  await chooser.setFiles(PERSON);
  await widget(page, "[data-action=submit]:not([disabled])").waitFor({ timeout: 60_000 });
  await tabTo(page, "widget:button[data-action=submit][type=button]");
  await page.keyboard.press("Enter");
  await waitForResult(page, describe);

  await tabTo(page, "widget:input[data-action=compare][type=range]");
  await page.keyboard.press("ArrowRight");
  assert.equal(await widget(page, "input[data-action=compare]").inputValue(), "51", "→ does not move the divider");

  await page.keyboard.press("Escape");
  await widget(page, "dialog[part=dialog]:not([open])").waitFor({ state: "attached", timeout: 5000 });
  assert.equal(
    (await focus(page)).where,
    "widget:button[part=button][type=button]",
    `focus did not return to the button: ${await dialogState(page)}`,
  );
  assert.deepEqual(problems, [], "the page logged errors");
});
