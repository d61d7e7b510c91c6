// Issue 3's person check as the shopper meets it, in headless Chromium against the real proxy
// with the built-in local provider, whose local checks judge the prepared photo's shape:
// fewer than 256 pixels on the short edge is an error, a landscape frame a warning.
//
// - An error stops before any credit is spent: the check is asked, no try-on is created, the
//   dialog says why and the page hears `tryon:failed` with the finding's name.
// - A warning is shown beside the photo and the shopper may go on: the try-on is created and
//   finishes.

import assert from "node:assert/strict";
import { test } from "node:test";

import { drawPerson, waitForOutcome } from "./shop-fixtures.mjs";
import { launchBrowser, saveArtifact, startProxy, waitFor } from "./util.mjs";

const SENTENCES = {
  tooFewPixels: "This photo is too small for a try-on. Please choose a larger one.",
  landscape: "A portrait photo showing your whole body works best.",
};

/** The demo product page with the proxy's POSTs counted by path and the page's failures kept. */
async function openDemo(t) {
  const proxy = await startProxy({ localDurationMs: 800 });
  t.after(() => proxy.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, problems } = browser;
  const posts = [];
  page.on("request", (request) => {
    if (request.method() === "POST") posts.push(new URL(request.url()).pathname);
  });
  await page.addInitScript(() => {
    window.__failed = [];
    document.addEventListener("tryon:failed", (event) => window.__failed.push(event.detail.error));
  });
  await page.goto(proxy.url);
  const describe = () => `POSTs: ${JSON.stringify(posts)}\npage problems: ${JSON.stringify(problems)}\n${proxy.describe()}`;
  return { proxy, page, posts, describe };
}

async function choosePhoto(page, name, size) {
  const photo = await saveArtifact(name, await drawPerson(page, size));
  await page.locator("try-on-button button[part=button]").click();
  await page.locator("try-on-button dialog[part=dialog][open]").waitFor({ timeout: 30_000 });
  await page.locator("try-on-button input[type=file]").setInputFiles(photo);
}

const count = (posts, path) => posts.filter((p) => p === path).length;

test("a photo the check refuses stops before any try-on is created", { timeout: 120_000 }, async (t) => {
  const { page, posts, describe } = await openDemo(t);
  await choosePhoto(page, "person-200x300.jpg", { width: 200, height: 300 });

  const error = page.locator("try-on-button [data-role=error]");
  await error.waitFor({ timeout: 30_000 }).catch(() => {});
  assert.equal((await error.textContent())?.trim(), SENTENCES.tooFewPixels, describe());
  await saveArtifact("person-check-refused.png", await page.screenshot());
  assert.equal(count(posts, "/v1/checks/person"), 1, `the photo was checked once\n${describe()}`);
  assert.deepEqual(await page.evaluate(() => window.__failed), ["low_resolution"], "the page heard why");
  assert.equal(await page.locator("try-on-button [data-action=submit]").isVisible(), false, "Try it on is gone");
  // Nothing late either: the create would have followed the check at once.
  await page.waitForTimeout(1000);
  assert.equal(count(posts, "/v1/tryons"), 0, `no try-on was created, so no credit spent\n${describe()}`);

  await page.locator("try-on-button [data-action=retry]").click();
  assert.ok(await page.locator("try-on-button input[type=file]").isEnabled(), "Try again leads back to the picker");
});

test("a warning is shown beside the photo and the shopper goes on", { timeout: 120_000 }, async (t) => {
  const { page, posts, describe } = await openDemo(t);
  await choosePhoto(page, "person-1200x800.jpg", { width: 1200, height: 800 });

  const warning = page.locator("try-on-button [data-role=check-warning]");
  await warning.waitFor({ timeout: 30_000 }).catch(() => {});
  assert.equal((await warning.textContent())?.trim(), SENTENCES.landscape, describe());
  const submit = page.locator("try-on-button [data-action=submit]");
  await waitFor(() => submit.isEnabled(), { timeoutMs: 10_000, describe: async () => `Try it on stays disabled\n${describe()}` });
  await saveArtifact("person-check-warning.png", await page.screenshot());
  assert.equal(count(posts, "/v1/tryons"), 0, "nothing is created before the shopper decides");

  await submit.click();
  const outcome = await waitForOutcome(page, describe);
  assert.ok(!outcome.error, `the widget showed an error: "${outcome.error}"\n${describe()}`);
  assert.equal(count(posts, "/v1/checks/person"), 1, describe());
  assert.equal(count(posts, "/v1/tryons"), 1, `one try-on after the warning\n${describe()}`);
  assert.deepEqual(await page.evaluate(() => window.__failed), []);
});
