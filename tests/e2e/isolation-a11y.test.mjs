// Issue 4, "isolation" and "accessibility": a product page with hostile global CSS shows the
// widget pixel for pixel as a plain page does (the button, and the open dialog in its first,
// photo-ready and result states), and axe-core finds no violation in any state of the dialog a
// shopper can reach (closed, open, photo ready, remembered, running, result, error).
// Real proxy binary, real headless Chromium, the widget's release build.

import assert from "node:assert/strict";
import { test } from "node:test";

import { launchBrowser, repoRoot, saveArtifact, startProxy, waitFor } from "./util.mjs";
import { choosePhoto, dialogState, openDialog, submitAndWaitForResult, waitForResult, widget } from "./widget-flow.mjs";

/** The issue's hostile CSS and friends: every inherited property a page can push into a shadow
 * root through the host, with !important, plus rules that would wreck unscoped markup. */
const HOSTILE_CSS = `
  * { box-sizing: content-box !important; font-size: 30px !important; line-height: 3 !important;
      letter-spacing: 4px !important; word-spacing: 12px !important; text-transform: uppercase !important;
      text-align: right !important; text-indent: 40px !important; font-weight: 900 !important;
      font-style: italic !important; color: #f0f !important; text-shadow: 2px 2px #0f0 !important;
      white-space: pre !important; cursor: wait !important; -webkit-text-fill-color: #0ff !important;
      color-scheme: dark !important; accent-color: #f00 !important; visibility: visible !important; }
  button { display: none !important; }
  dialog { all: unset; }
  dialog::backdrop { background: #f00 !important; }
  input, label, progress, img, p, h2, h3, ul, li, section, figure, a { display: none !important; }
  div { display: inline !important; padding: 30px !important; margin: 30px !important; }
  [hidden] { display: block !important; }
`;

/** The same minimal product page, with or without the hostile stylesheet. */
function productPage(hostile) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Tee</title>
    <style>
      /* The page's own background shows at the button's rounded corners: the same on both. */
      html, body { margin: 0; background: #fff; font-family: Arial, sans-serif; }
      /* At whole pixels on both pages, so the pictures are taken of the same pixel grid. */
      try-on-button { position: absolute; left: 24px; top: 24px; }
    </style>
    ${hostile ? `<style>${HOSTILE_CSS}</style>` : ""}
    <script src="/widget.js" async></script></head><body>
    <div class="buy"><try-on-button garment="/demo/garment.png" category="upper" product="Classic Cotton Tee"></try-on-button></div>
    </body></html>`;
}

async function routePage(page, url, html) {
  await page.route(url, (route) => route.fulfill({ contentType: "text/html", body: html }));
}

/** Screenshots of the widget in each state that does not depend on timing. */
async function widgetShots(page, describe) {
  // The bar's fill animates; without motion every picture is of a settled state.
  await page.emulateMedia({ reducedMotion: "reduce" });
  const shots = {};
  const button = widget(page, "button[part=button]");
  await button.waitFor();
  shots.button = await button.screenshot();
  await openDialog(page);
  await page.mouse.move(0, 0); // no hover highlight in the pictures
  const dialog = widget(page, "dialog[part=dialog]");
  shots.dialog = await dialog.screenshot();
  await choosePhoto(page);
  // Try it on is enabled while the photo still uploads and is checked; the picture is of the
  // settled state after both, not of a moment when the progress line comes or goes.
  await waitFor(
    () =>
      page.evaluate(() => document.querySelector("try-on-button").shadowRoot.querySelector("section.progress")?.hidden),
    { timeoutMs: 30_000, describe: async () => `the photo was never uploaded and checked: ${await dialogState(page)}` },
  );
  await page.evaluate(() => document.activeElement?.blur());
  shots.ready = await dialog.screenshot();
  await submitAndWaitForResult(page, describe);
  await page.evaluate(() => {
    const root = document.querySelector("try-on-button").shadowRoot;
    root.activeElement?.blur();
  });
  shots.result = await dialog.screenshot();
  return shots;
}

test("hostile page CSS changes nothing in the widget", { timeout: 240_000 }, async (t) => {
  const proxy = await startProxy({ localDurationMs: 300 });
  t.after(() => proxy.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { context, page, problems } = browser;
  const describe = () => `page problems: ${JSON.stringify(problems)}\n${proxy.describe()}`;

  const plainUrl = new URL("/test/plain.html", proxy.url).href;
  await routePage(page, plainUrl, productPage(false));
  await page.goto(plainUrl);
  const plain = await widgetShots(page, describe);

  const hostilePage = await context.newPage();
  hostilePage.on("pageerror", (error) => problems.push(`hostile page error: ${error.message}`));
  const hostileUrl = new URL("/test/hostile.html", proxy.url).href;
  await routePage(hostilePage, hostileUrl, productPage(true));
  await hostilePage.goto(hostileUrl);
  assert.equal(
    await hostilePage.evaluate(() => getComputedStyle(document.querySelector("div.buy")).fontSize),
    "30px",
    "the hostile stylesheet is not in effect on the page",
  );
  const hostile = await widgetShots(hostilePage, describe);

  for (const state of Object.keys(plain)) {
    const same = plain[state].equals(hostile[state]);
    if (!same) {
      await saveArtifact(`isolation-${state}-plain.png`, plain[state]);
      await saveArtifact(`isolation-${state}-hostile.png`, hostile[state]);
    }
    assert.ok(same, `the ${state} looks different on the hostile page (see target/e2e-artifacts/isolation-${state}-*.png)`);
  }
  assert.deepEqual(problems, [], "the pages logged errors");
});

/** Runs axe-core on the widget (its shadow tree included) and returns the violations. */
async function axeViolations(page) {
  if (!(await page.evaluate(() => typeof window.axe === "object"))) {
    await page.addScriptTag({ path: `${repoRoot}/node_modules/axe-core/axe.min.js` });
  }
  return page.evaluate(async () => {
    const results = await window.axe.run({ include: [["try-on-button"]] }, { resultTypes: ["violations"] });
    return results.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      targets: v.nodes.map((n) => JSON.stringify(n.target)).slice(0, 5),
    }));
  });
}

test("axe-core finds no violation in any state of the dialog", { timeout: 240_000 }, async (t) => {
  const proxy = await startProxy({ localDurationMs: 4000 });
  t.after(() => proxy.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, problems } = browser;
  const describe = () => `page problems: ${JSON.stringify(problems)}\n${proxy.describe()}`;
  const found = {};
  const check = async (state) => {
    found[state] = await axeViolations(page);
  };

  await page.goto(proxy.url);
  await check("closed");
  await openDialog(page);
  await check("open");
  await choosePhoto(page);
  await check("photo ready");
  await widget(page, "input[data-action=remember]").check();
  await widget(page, "[data-action=forget]").waitFor();
  await check("photo remembered");
  await widget(page, "[data-action=submit]").click();
  await waitFor(async () => /Creating your look|In line|Starting|You're next/.test(await widget(page, "[data-role=progress-text]").textContent()), {
    timeoutMs: 30_000,
    describe: async () => `the try-on never reached the running state: ${await dialogState(page)}`,
  });
  await check("running");
  await waitForResult(page, describe);
  await check("result");
  await widget(page, "[data-action=forget]").click();
  await check("photo forgotten");
  await widget(page, "[data-action=start-over]").click();
  await widget(page, "input[type=file]").setInputFiles({ name: "photo.heic", mimeType: "image/heic", buffer: Buffer.from("\0\0\0\x18ftypheic\0\0\0\0mif1heic") });
  await widget(page, "[data-role=error]").waitFor({ timeout: 30_000 });
  await check("error");

  const report = Object.entries(found)
    .filter(([, violations]) => violations.length)
    .map(([state, violations]) => `${state}: ${JSON.stringify(violations, null, 1)}`)
    .join("\n");
  assert.equal(report, "", `axe-core violations:\n${report}`);
  assert.equal(Object.keys(found).length, 8, "a state was skipped");
  assert.deepEqual(problems, [], "the page logged errors");
});
