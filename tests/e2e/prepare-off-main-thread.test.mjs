// Issue 4, "Photo preparation off the main thread": while the widget prepares a 12 MP photo,
// the page's main thread never runs a task longer than 50 ms (PerformanceObserver "longtask"
// reports exactly the tasks over 50 ms, so the test asserts there are none), and what comes out
// is the prepared JPEG: long edge 2048, no metadata. Real proxy binary, real headless Chromium.

import assert from "node:assert/strict";
import { test } from "node:test";

import { launchBrowser, readJpeg, startProxy, waitFor } from "./util.mjs";
import { dialogState, openDialog, widget } from "./widget-flow.mjs";

const PHOTO = { width: 4032, height: 3024 };
const LONG_TASK_MS = 50;

/** Puts a 12 MP photo-like JPEG into the page as `window.__photo` (a File), drawn and encoded
 * in a worker. It stays in the page: handing it over from Node (setInputFiles with a buffer)
 * would decode megabytes of base64 on the main thread inside the observed window, which is the
 * harness's work, not the widget's. */
async function twelveMegapixelJpegInPage(page) {
  await page.evaluate(async ({ width, height }) => {
    const source = `onmessage = async () => {
      const canvas = new OffscreenCanvas(${width}, ${height});
      const ctx = canvas.getContext("2d");
      const light = ctx.createLinearGradient(0, 0, ${width}, ${height});
      light.addColorStop(0, "#f3e9dc");
      light.addColorStop(1, "#8a9bb0");
      ctx.fillStyle = light;
      ctx.fillRect(0, 0, ${width}, ${height});
      for (let i = 0; i < 60; i += 1) {
        ctx.fillStyle = "hsl(" + ((i * 47) % 360) + " 45% " + (30 + (i % 5) * 10) + "%)";
        ctx.fillRect((i * 733) % ${width}, (i * 397) % ${height}, 40 + ((i * 53) % 600), 30 + ((i * 71) % 500));
      }
      const blob = await canvas.convertToBlob({ type: "image/jpeg", quality: 0.92 });
      postMessage(await blob.arrayBuffer());
    };`;
    const worker = new Worker(URL.createObjectURL(new Blob([source], { type: "text/javascript" })));
    const buffer = await new Promise((resolve, reject) => {
      worker.onmessage = ({ data }) => resolve(data);
      worker.onerror = (event) => reject(new Error(`the drawing worker failed: ${event.message}`));
      worker.postMessage(null);
    });
    worker.terminate();
    window.__photo = new File([buffer], "phone-photo.jpg", { type: "image/jpeg" });
  }, PHOTO);
}

/** Chooses `window.__photo` as a picker would (the input's files, then its change event) and
 * waits until the prepared photo is ready to send. */
async function chooseThePhotoInPage(page) {
  await page.evaluate(() => {
    const input = document.querySelector("try-on-button").shadowRoot.querySelector("input[type=file]");
    const chosen = new DataTransfer();
    chosen.items.add(window.__photo);
    input.files = chosen.files;
    input.dispatchEvent(new Event("change", { bubbles: true }));
  });
  await waitFor(() => widget(page, "[data-action=submit]:not([disabled])").isVisible(), {
    timeoutMs: 60_000,
    describe: async () => `the prepared photo never became ready to send: ${await dialogState(page)}`,
  });
}

test("preparing a 12 MP photo runs no main-thread task over 50 ms", { timeout: 180_000 }, async (t) => {
  const proxy = await startProxy();
  t.after(() => proxy.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, problems } = browser;

  await page.goto(proxy.url);
  await openDialog(page);
  await twelveMegapixelJpegInPage(page);
  // Let the dialog's own opening work (the photo module's fetch and compile) settle first.
  await widget(page, "input[type=file]").waitFor({ state: "attached" });
  await page.waitForTimeout(1000);

  await page.evaluate(() => {
    window.__longTasks = [];
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) window.__longTasks.push({ start: entry.startTime, ms: entry.duration });
    }).observe({ type: "longtask" });
    window.__preparationStarted = performance.now();
  });
  await chooseThePhotoInPage(page);
  // A long task is reported after it ends; give the observer a moment to deliver the last one.
  await page.waitForTimeout(200);
  const { tasks, elapsed } = await page.evaluate(() => ({
    tasks: window.__longTasks.filter((task) => task.start >= window.__preparationStarted),
    elapsed: performance.now() - window.__preparationStarted,
  }));
  const longest = Math.max(0, ...tasks.map((task) => task.ms));
  console.log(`longest main-thread task while preparing a 12 MP photo: ${longest.toFixed(0)} ms (${tasks.length} over 50 ms in ${elapsed.toFixed(0)} ms)`);
  assert.ok(
    longest <= LONG_TASK_MS,
    `the main thread ran ${tasks.length} task(s) over ${LONG_TASK_MS} ms while preparing: ` +
      `${JSON.stringify(tasks)}\n${await dialogState(page)}\npage problems: ${JSON.stringify(problems)}`,
  );

  // What was prepared is the photo that will be uploaded: 2048 on the long edge, no metadata.
  const facts = (await widget(page, "[data-role=photo-facts]").textContent()).replace(/\s+/g, " ");
  assert.match(facts, /2048 × 1536 px/, `the prepared photo's facts: ${facts}`);
  const preview = await page.evaluate(async () => {
    const img = document.querySelector("try-on-button").shadowRoot.querySelector("img[data-role=preview]");
    const bytes = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
    return Array.from(bytes.subarray(0, 64 * 1024));
  });
  const header = readJpeg(Buffer.from(preview));
  assert.deepEqual([header.width, header.height], [2048, 1536], "the preview is the prepared JPEG");
  const metadata = header.segments.filter(({ marker }) => marker >= 0xe1 && marker <= 0xef);
  assert.deepEqual(metadata, [], "the prepared JPEG carries no APP1–APP15 (EXIF, XMP, ICC, …) segment");
  assert.equal(problems.length, 0, `page problems: ${JSON.stringify(problems)}`);
});
