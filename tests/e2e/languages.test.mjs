// Issue 4, "accessibility and language": the dialog speaks the `locale` attribute's language, else
// the page's `<html lang>`, else English. Only English is compiled into the wasm; the loader
// fetches the page's other table (one small JSON file) together with the wasm, so these tests
// also check that a shopper downloads her own language's table and no other.
// Real proxy binary, real headless Chromium, the widget's release build.

import assert from "node:assert/strict";
import { test } from "node:test";

import { launchBrowser, startProxy, waitFor } from "./util.mjs";

const tableRequests = (requests) =>
  requests.map((url) => new URL(url).pathname).filter((pathname) => /\/locale-[^/]+\.json$/.test(pathname));

/** Opens the dialog of the button with `id` and returns what it shows; closes it again. */
async function dialogOf(page, id) {
  await page.click(`#${id} >> button[part=button]`);
  await page.locator(`#${id} >> dialog[part=dialog][open]`).waitFor({ timeout: 30_000 });
  const shown = await page.evaluate((id) => {
    const root = document.getElementById(id).shadowRoot;
    const dialog = root.querySelector("dialog[part=dialog]");
    return {
      button: root.querySelector("button[part=button]").textContent.trim(),
      lang: dialog.getAttribute("lang"),
      title: root.querySelector("#tryon-title").textContent.trim(),
      close: root.querySelector("[data-action=close]").getAttribute("aria-label"),
    };
  }, id);
  await page.keyboard.press("Escape");
  await waitFor(() => page.evaluate((id) => !document.getElementById(id).shadowRoot.querySelector("dialog[open]"), id), {
    timeoutMs: 5_000,
    describe: async () => `the ${id} dialog did not close on Escape`,
  });
  return shown;
}

async function pageWith(browser, proxy, name, lang, buttons) {
  const url = new URL(`/test/${name}.html`, proxy.url).href;
  await browser.page.route(url, (route) =>
    route.fulfill({
      contentType: "text/html",
      body: `<!doctype html><html lang="${lang}"><head><meta charset="utf-8"><title>Tee</title>
        <script src="/widget.js" async></script></head><body>${buttons}</body></html>`,
    }),
  );
  await browser.page.goto(url, { waitUntil: "load" });
}

test("the locale attribute wins, then the page's language; only that table is fetched", { timeout: 120_000 }, async (t) => {
  const proxy = await startProxy();
  t.after(() => proxy.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, problems } = browser;
  const requests = [];
  page.on("request", (request) => requests.push(request.url()));

  await pageWith(
    browser,
    proxy,
    "french-page",
    "fr-CA",
    `<try-on-button id="german" locale="de-AT" garment="/demo/garment.png"></try-on-button>
     <try-on-button id="page" garment="/demo/garment.png"></try-on-button>
     <try-on-button id="unknown" locale="xx" garment="/demo/garment.png"></try-on-button>`,
  );
  assert.deepEqual(tableRequests(requests), [], "a sentence table was fetched before intent");

  const german = await dialogOf(page, "german");
  assert.deepEqual(german, { button: "Anprobieren", lang: "de", title: "So sieht es an dir aus", close: "Schließen" });
  const tables = tableRequests(requests);
  assert.equal(tables.length, 1, `one table for the German button: ${tables.join(", ")}`);
  assert.match(tables[0], /\/locale-de-[0-9a-f]{8}\.json$/);

  const french = await dialogOf(page, "page");
  assert.deepEqual(
    french,
    { button: "Essayer", lang: "fr", title: "Voyez-le sur vous", close: "Fermer" },
    "without a locale attribute the page's <html lang> decides",
  );

  const unknown = await dialogOf(page, "unknown");
  assert.deepEqual(unknown, french, "a locale we do not speak falls back to the page's language");
  const fetched = tableRequests(requests).map((pathname) => pathname.replace(/-[0-9a-f]{8}\.json$/, ""));
  assert.deepEqual(fetched, ["/locale-de", "/locale-fr"], "each language's table is fetched once, and no other");
  assert.deepEqual(problems, [], "the page logged errors");
});

test("a page in a language we do not speak gets English and fetches no table", { timeout: 60_000 }, async (t) => {
  const proxy = await startProxy();
  t.after(() => proxy.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, problems } = browser;
  const requests = [];
  page.on("request", (request) => requests.push(request.url()));

  await pageWith(browser, proxy, "dutch-page", "nl", `<try-on-button id="dutch" garment="/demo/garment.png"></try-on-button>`);
  const shown = await dialogOf(page, "dutch");
  assert.equal(shown.lang, "en");
  assert.equal(shown.button, "Try it on");
  assert.equal(shown.close, "Close");
  assert.deepEqual(tableRequests(requests), [], "an English dialog needs no table");
  assert.deepEqual(problems, [], "the page logged errors");
});
