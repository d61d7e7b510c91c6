// Issue 14, "photo → Try it on enabled": the photo goes up while the shopper reads its facts, so
// Try it on is enabled as soon as the photo is prepared, not when the upload ends. Against the
// real proxy binary (local provider) in headless Chromium, with the photo upload (or the person
// check) held back by the test, so "during the upload" is certain whatever the machine's speed:
// - pressed while the photo uploads: the button goes disabled, the bar keeps showing the upload,
//   nothing is created until the photo is stored; then exactly one upload, one create, a result;
// - pressed while the photo is being checked, and the check refuses it: the dialog says why, as
//   without the early press, and no try-on is created.

import assert from "node:assert/strict";
import { test } from "node:test";

import { drawPerson } from "./shop-fixtures.mjs";
import { launchBrowser, saveArtifact, startProxy, waitFor } from "./util.mjs";
import { dialogState, events, openDialog, recordEvents, waitForResult, widget, PERSON } from "./widget-flow.mjs";

/** The demo page with the POSTs to `heldPath` held until `release()`, and every POST counted. */
async function openDemo(t, heldPath) {
  const proxy = await startProxy({ localDurationMs: 800 });
  t.after(() => proxy.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, problems } = browser;
  const posts = [];
  page.on("request", (request) => {
    if (request.method() === "POST") posts.push(new URL(request.url()).pathname);
  });
  let release;
  const held = new Promise((resolve) => (release = resolve));
  await page.route(`**${heldPath}`, async (route) => {
    if (route.request().method() === "POST") await held;
    await route.continue();
  });
  await recordEvents(page);
  await page.goto(proxy.url);
  const describe = () =>
    `POSTs: ${JSON.stringify(posts)}\npage problems: ${JSON.stringify(problems)}\n${proxy.describe()}`;
  return { proxy, page, posts, release, describe };
}

const count = (posts, path) => posts.filter((p) => p === path).length;
const submit = (page) => widget(page, "[data-action=submit]");

/** Waits until Try it on is enabled while `path` is still held; the progress line then. */
async function enabledWhileHeld(page, posts, path, describe) {
  await waitFor(() => submit(page).isEnabled(), {
    timeoutMs: 60_000,
    describe: async () => `Try it on was not enabled while ${path} was held: ${await dialogState(page)}\n${describe()}`,
  });
  await waitFor(async () => count(posts, path) === 1, {
    timeoutMs: 10_000,
    describe: () => `the widget never sent ${path}\n${describe()}`,
  });
  return (await widget(page, "[data-role=progress-text]").textContent()).trim();
}

test("Try it on pressed while the photo uploads waits for it, then one upload and one try-on", { timeout: 180_000 }, async (t) => {
  const { proxy, page, posts, release, describe } = await openDemo(t, "/v1/photos");
  await openDialog(page);
  await widget(page, "input[type=file]").setInputFiles(PERSON);
  const line = await enabledWhileHeld(page, posts, "/v1/photos", describe);
  assert.match(line, /^Uploading \d+%$/, `the upload's progress is shown beside the enabled button\n${describe()}`);
  assert.equal((await events(page, "tryon:photo-ready")).length, 1, "the page hears the photo is ready once");

  await submit(page).click();
  await waitFor(async () => !(await submit(page).isEnabled()), {
    timeoutMs: 5000,
    describe: () => "Try it on stays enabled after the press",
  });
  await saveArtifact("press-during-upload.png", await page.screenshot());
  // Nothing may be created on a photo the proxy does not have yet.
  await page.waitForTimeout(500);
  assert.equal(count(posts, "/v1/tryons"), 0, `created before the photo was stored\n${describe()}`);
  assert.match((await widget(page, "[data-role=progress-text]").textContent()).trim(), /^Uploading/);

  release();
  await waitForResult(page, describe);
  const received = proxy.logsWith("upload received").filter((entry) => entry.field === "person");
  assert.equal(received.length, 1, `the proxy received the photo once\n${describe()}`);
  assert.equal(count(posts, "/v1/photos"), 1, `one photo upload\n${describe()}`);
  assert.equal(count(posts, "/v1/tryons"), 1, `one try-on, created once the photo was stored\n${describe()}`);
  assert.equal(count(posts, "/v1/checks/person"), 1, describe());
  assert.ok(
    posts.indexOf("/v1/tryons") > posts.indexOf("/v1/checks/person"),
    `the create followed the check: ${JSON.stringify(posts)}`,
  );
  assert.equal((await events(page, "tryon:photo-ready")).length, 1, "no second photo-ready");
  assert.deepEqual(await events(page, "tryon:failed"), []);
});

test("Try it on pressed while the photo is checked, then refused: says why, creates nothing", { timeout: 180_000 }, async (t) => {
  const { page, posts, release, describe } = await openDemo(t, "/v1/checks/person");
  const photo = await saveArtifact("person-200x300-pressed.jpg", await drawPerson(page, { width: 200, height: 300 }));
  await openDialog(page);
  await widget(page, "input[type=file]").setInputFiles(photo);
  const line = await enabledWhileHeld(page, posts, "/v1/checks/person", describe);
  assert.equal(line, "Checking your photo", describe());
  await submit(page).click();

  release();
  const error = widget(page, "[data-role=error]");
  await error.waitFor({ timeout: 30_000 });
  assert.equal(
    (await error.textContent()).trim(),
    "This photo is too small for a try-on. Please choose a larger one.",
    describe(),
  );
  await page.waitForTimeout(1000);
  assert.equal(count(posts, "/v1/tryons"), 0, `no try-on was created, so no credit spent\n${describe()}`);
  assert.deepEqual(
    (await events(page, "tryon:failed")).map((event) => event.detail.error),
    ["low_resolution"],
    "the page heard why",
  );
});
