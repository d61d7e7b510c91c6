// Issue 4, the photo step as a shopper meets it: "Remember my photo on this device" (opt-in,
// IndexedDB only, offered again after a reload, gone after Forget my photo, nothing stored
// without consent), the bar moving while the photo is prepared, and a clear sentence for a
// HEIC photo the browser cannot decode. Real proxy binary, real headless Chromium.

import assert from "node:assert/strict";
import { test } from "node:test";

import { launchBrowser, saveArtifact, startProxy, waitFor } from "./util.mjs";
import {
  choosePhoto,
  dialogState,
  events,
  openDialog,
  recordEvents,
  submitAndWaitForResult,
  widget,
} from "./widget-flow.mjs";

const DATABASE = "tryon-widget";

/** What this origin keeps in IndexedDB: the widget's database and the photo in it, if any. */
async function storedPhoto(page) {
  return page.evaluate(async (name) => {
    const names = (await indexedDB.databases()).map((db) => db.name);
    if (!names.includes(name)) return { database: false, bytes: 0 };
    const db = await new Promise((resolve, reject) => {
      const request = indexedDB.open(name);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    try {
      const record = await new Promise((resolve, reject) => {
        const request = db.transaction("photo").objectStore("photo").get("person");
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
      });
      return { database: true, bytes: record?.jpeg?.size || 0, type: record?.jpeg?.type, width: record?.width };
    } finally {
      db.close();
    }
  }, DATABASE);
}

/** The dialog's note about the remembered photo ("saved on this device" / "removed"). */
const notice = (page) => widget(page, "[data-role=photo-notice] span").textContent().then((text) => text.trim());

test("Remember my photo: nothing without consent, offered again after a reload, gone after Forget", { timeout: 240_000 }, async (t) => {
  const proxy = await startProxy({ localDurationMs: 500 });
  t.after(() => proxy.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, problems } = browser;
  const describe = () => `page problems: ${JSON.stringify(problems)}\n${proxy.describe()}`;
  await recordEvents(page);

  await page.goto(proxy.url);
  await openDialog(page);
  await choosePhoto(page);
  const remember = widget(page, "input[data-action=remember]");
  assert.equal(await remember.isChecked(), false, "remembering must be opt-in");
  assert.deepEqual(await storedPhoto(page), { database: false, bytes: 0 }, "something was stored without consent");

  // Consent: the prepared photo goes to IndexedDB.
  await remember.check();
  const stored = await waitFor(async () => ((await storedPhoto(page)).bytes > 0 ? storedPhoto(page) : null), {
    timeoutMs: 10_000,
    describe: async () => `the photo was not stored after consent: ${JSON.stringify(await storedPhoto(page))}`,
  });
  assert.equal(stored.type, "image/jpeg", "the stored photo is the prepared JPEG");
  const facts = await widget(page, "[data-role=photo-facts]").textContent();
  assert.equal(await notice(page), "Your photo is saved on this device.");

  // A reload: the same photo is offered, ready to send, without choosing a file.
  await page.reload();
  await openDialog(page);
  await widget(page, "[data-action=submit]:not([disabled])").waitFor({ timeout: 10_000 });
  assert.equal(await widget(page, "[data-role=photo-facts]").textContent(), facts, "another photo was offered");
  assert.ok(await widget(page, "img[data-role=preview]").isVisible(), "the remembered photo is not shown");
  assert.equal(await widget(page, "input[data-action=remember]").isChecked(), true);
  assert.equal((await events(page, "tryon:photo-ready")).length, 1, "the remembered photo is announced as ready");
  await submitAndWaitForResult(page, describe);
  await saveArtifact("remembered-photo-result.png", await page.screenshot());

  // Forget my photo: visible in the result step too; the database is deleted.
  const forget = widget(page, "[data-action=forget]");
  assert.ok(await forget.isVisible(), "Forget my photo is not visible next to the result");
  await forget.click();
  assert.equal(await notice(page), "Your photo has been removed from this device.");
  await waitFor(async () => !(await storedPhoto(page)).database, {
    timeoutMs: 10_000,
    describe: async () => `the database is still there: ${JSON.stringify(await storedPhoto(page))}`,
  });
  await page.reload();
  await openDialog(page);
  await page.waitForTimeout(1000); // time for a (wrong) restore to show up
  assert.equal(await widget(page, "img[data-role=preview]").count(), 0, `a forgotten photo was offered: ${await dialogState(page)}`);
  assert.deepEqual(await storedPhoto(page), { database: false, bytes: 0 });
  assert.deepEqual(problems, [], "the page logged errors");
});

/** A 12 MP JPEG drawn in the page, big enough that preparing it takes a visible moment. */
async function drawLargePhoto(page) {
  const base64 = await page.evaluate(async () => {
    const canvas = new OffscreenCanvas(3024, 4032);
    const ctx = canvas.getContext("2d");
    const gradient = ctx.createLinearGradient(0, 0, 3024, 4032);
    gradient.addColorStop(0, "#dfe6ee");
    gradient.addColorStop(1, "#8da1b5");
    ctx.fillStyle = gradient;
    ctx.fillRect(0, 0, 3024, 4032);
    ctx.fillStyle = "#2e4a66";
    ctx.fillRect(1000, 1200, 1024, 1400);
    const blob = await canvas.convertToBlob({ type: "image/jpeg", quality: 0.92 });
    const bytes = new Uint8Array(await blob.arrayBuffer());
    let text = "";
    for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(text);
  });
  return Buffer.from(base64, "base64");
}

/** A HEIC file's first bytes as an iPhone writes them (ftyp box, brand heic), then noise. */
function heicFile() {
  const ftyp = Buffer.alloc(24);
  ftyp.writeUInt32BE(24, 0);
  ftyp.write("ftypheic", 4, "latin1");
  ftyp.writeUInt32BE(0, 12);
  ftyp.write("mif1heic", 16, "latin1");
  const rest = Buffer.alloc(4096);
  for (let i = 0; i < rest.length; i += 1) rest[i] = (i * 131 + 7) & 0xff;
  return Buffer.concat([ftyp, rest]);
}

test("the bar moves while a 12 MP photo is prepared; a HEIC photo gets its own sentence", { timeout: 180_000 }, async (t) => {
  const proxy = await startProxy({ localDurationMs: 500 });
  t.after(() => proxy.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, problems } = browser;
  await recordEvents(page);
  await page.goto(proxy.url);
  const photo = await saveArtifact("preparing-12mp.jpg", await drawLargePhoto(page));
  await openDialog(page);
  await page.evaluate(() => {
    const root = document.querySelector("try-on-button").shadowRoot;
    const seen = (window.__preparing = []);
    const sample = () => {
      const bar = root.querySelector("[part=progress]");
      const text = root.querySelector("[data-role=progress-text]")?.textContent?.trim();
      if (bar && !bar.closest("[hidden]") && text) seen.push({ value: Number(bar.value), text });
    };
    new MutationObserver(sample).observe(root, { subtree: true, attributes: true, childList: true, characterData: true });
  });
  await choosePhoto(page, photo);
  const preparing = (await page.evaluate(() => window.__preparing)).filter((s) => s.text === "Preparing photo");
  const trail = JSON.stringify(preparing);
  assert.ok(preparing.length > 0, "the preparing line was never shown");
  assert.ok(preparing.every((s) => s.value > 0), `the bar showed 0 % while preparing: ${trail}`);
  assert.ok(new Set(preparing.map((s) => s.value)).size >= 2, `the bar did not move while preparing: ${trail}`);

  // HEIC: Chromium cannot decode it, so the shopper is told to pick a JPEG or PNG.
  const heic = await saveArtifact("photo.heic", heicFile());
  await widget(page, "input[type=file]").setInputFiles(heic);
  const error = widget(page, "[data-role=error]");
  await error.waitFor({ timeout: 30_000 });
  assert.equal((await error.textContent()).trim(), "This photo format isn't supported here. Please choose a JPEG or PNG.");
  const [failed] = await events(page, "tryon:failed");
  assert.equal(failed?.detail.error, "unsupported_type", `tryon:failed detail: ${JSON.stringify(failed)}`);
  await widget(page, "[data-action=retry]").click();
  assert.ok(await widget(page, "input[type=file]").count(), "Try again does not lead back to the picker");
  assert.equal(await widget(page, "img[data-role=preview]").count(), 0, "the HEIC left a preview behind");
  assert.deepEqual(problems, [], "the page logged errors");
});
