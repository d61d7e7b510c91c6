// The skeleton's end-to-end test: a shopper on the demo product page presses Try it on, picks a
// 12 MP phone photo taken sideways (EXIF orientation 6), and sees the result. Real proxy binary,
// real Chromium, the widget's release build; only loopback.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  launchBrowser,
  parseMultipart,
  readJpeg,
  saveArtifact,
  startProxy,
  waitFor,
  withExifOrientation,
} from "./util.mjs";

// The photo as the camera stored it: landscape pixels, to be shown rotated 90° clockwise.
const STORED = { width: 4000, height: 3000 };
const PERSON_MAX_EDGE = 2048;

// The scene as the shopper sees it (portrait), in fractions of width and height: a person on a
// plain background, a red marker top right and a blue marker bottom left. A wrong or missing
// rotation moves the markers to other corners.
const MARKERS = {
  red: { x: 0.93, y: 0.05 },
  blue: { x: 0.07, y: 0.95 },
  background: [
    { x: 0.07, y: 0.05 },
    { x: 0.93, y: 0.95 },
  ],
};

/** Draws the portrait scene into landscape pixels (the inverse of orientation 6) and encodes it
 * as JPEG in the page; returns the bytes. */
async function drawStoredPhoto(page) {
  const base64 = await page.evaluate(async ({ width, height, markers }) => {
    const canvas = new OffscreenCanvas(width, height);
    const ctx = canvas.getContext("2d");
    // Shown = stored rotated 90° clockwise, so draw shown (x', y') at stored (y', height - x').
    ctx.setTransform(0, -1, 1, 0, 0, height);
    const [w, h] = [height, width]; // the shown picture's size
    const sky = ctx.createLinearGradient(0, 0, 0, h);
    sky.addColorStop(0, "#eef1f5");
    sky.addColorStop(1, "#d9dfe6");
    ctx.fillStyle = sky;
    ctx.fillRect(0, 0, w, h);
    ctx.fillStyle = "#c68d6b"; // head and arms
    ctx.beginPath();
    ctx.arc(w * 0.5, h * 0.22, w * 0.09, 0, 2 * Math.PI);
    ctx.fill();
    ctx.fillRect(w * 0.28, h * 0.32, w * 0.07, h * 0.3);
    ctx.fillRect(w * 0.65, h * 0.32, w * 0.07, h * 0.3);
    ctx.fillStyle = "#2e4a66"; // shirt
    ctx.fillRect(w * 0.35, h * 0.3, w * 0.3, h * 0.33);
    ctx.fillStyle = "#303030"; // trousers
    ctx.fillRect(w * 0.37, h * 0.63, w * 0.12, h * 0.32);
    ctx.fillRect(w * 0.51, h * 0.63, w * 0.12, h * 0.32);
    const square = w * 0.08;
    ctx.fillStyle = "#e00000";
    ctx.fillRect(markers.red.x * w - square / 2, markers.red.y * h - square / 2, square, square);
    ctx.fillStyle = "#0030e0";
    ctx.fillRect(markers.blue.x * w - square / 2, markers.blue.y * h - square / 2, square, square);
    const blob = await canvas.convertToBlob({ type: "image/jpeg", quality: 0.92 });
    const url = await new Promise((resolve) => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result);
      reader.readAsDataURL(blob);
    });
    return url.slice(url.indexOf(",") + 1);
  }, { ...STORED, markers: MARKERS });
  return Buffer.from(base64, "base64");
}

/** Decodes a JPEG in the page and names the colour at each point: red, blue, or other. */
async function coloursAt(page, jpeg, points) {
  return page.evaluate(async ({ base64, points }) => {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const bitmap = await createImageBitmap(new Blob([bytes], { type: "image/jpeg" }));
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const ctx = canvas.getContext("2d");
    ctx.drawImage(bitmap, 0, 0);
    return points.map(({ x, y }) => {
      const [r, g, b] = ctx.getImageData(Math.round(x * bitmap.width), Math.round(y * bitmap.height), 1, 1).data;
      if (r > 170 && g < 90 && b < 90) return "red";
      if (b > 170 && r < 90 && g < 120) return "blue";
      return `other rgb(${r},${g},${b})`;
    });
  }, { base64: jpeg.toString("base64"), points });
}

/** Records every value and text the progress bar shows, from inside the widget's shadow root:
 * a MutationObserver for attribute and text changes plus a 25 ms sampler for anything set as a
 * property. */
async function recordProgress(page) {
  await page.evaluate(() => {
    const root = document.querySelector("try-on-button").shadowRoot;
    const seen = (window.__progress = []);
    const sample = () => {
      const bar = root.querySelector("[part=progress]");
      if (!bar || bar.closest("[hidden]")) return;
      const raw = bar.getAttribute("aria-valuenow") ?? bar.getAttribute("value");
      const value = raw === null ? null : Number(raw);
      const text = root.querySelector("[data-role=progress-text]")?.textContent?.trim() || "";
      const last = seen[seen.length - 1];
      if (!last || last.value !== value || last.text !== text) seen.push({ value, text, at: performance.now() });
    };
    new MutationObserver(sample).observe(root, { subtree: true, attributes: true, childList: true, characterData: true });
    setInterval(sample, 25);
  });
}

/** Records, in the page, every multipart body sent with XMLHttpRequest. Chromium does not give
 * DevTools (so playwright's request events) the bytes of Blob parts, so the page serialises the
 * same FormData with `new Response(formData)`, which uses the browser's own multipart encoder. */
async function recordFormBodies(page) {
  await page.addInitScript(() => {
    const { open, send } = XMLHttpRequest.prototype;
    const sent = (window.__sentForms = []);
    XMLHttpRequest.prototype.open = function (method, url, ...rest) {
      this.__target = { method, url: String(url) };
      return open.call(this, method, url, ...rest);
    };
    XMLHttpRequest.prototype.send = function (body) {
      if (body instanceof FormData) {
        const encoded = new Response(body);
        const entry = { ...this.__target, contentType: encoded.headers.get("content-type"), base64: null };
        sent.push(entry);
        encoded.arrayBuffer().then((buffer) => {
          const bytes = new Uint8Array(buffer);
          let text = "";
          for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
          entry.base64 = btoa(text);
        });
      }
      return send.call(this, body);
    };
  });
}

/** The multipart bodies recorded by recordFormBodies, once all are encoded. */
async function sentFormBodies(page) {
  return waitFor(
    () => page.evaluate(() => (window.__sentForms.every((entry) => entry.base64) ? window.__sentForms : null)),
    { timeoutMs: 10_000, describe: () => "the page did not finish encoding the recorded multipart bodies" },
  );
}

/** Waits for the result image or an error sentence in the dialog, whichever comes first. */
async function waitForOutcome(page, proxy, problems) {
  return waitFor(
    () =>
      page.evaluate(() => {
        const root = document.querySelector("try-on-button").shadowRoot;
        const result = root.querySelector("img[part=result]");
        if (result && result.complete && result.naturalWidth > 0) {
          return { result: { naturalWidth: result.naturalWidth, naturalHeight: result.naturalHeight, inDialog: !!result.closest("dialog[open]") } };
        }
        const error = root.querySelector("[data-role=error]");
        const text = error && !error.closest("[hidden]") ? error.textContent.trim() : "";
        return text ? { error: text } : null;
      }),
    {
      timeoutMs: 90_000,
      describe: async () => `no result image and no error in the dialog\npage problems: ${JSON.stringify(problems)}\n${proxy.describe()}`,
    },
  );
}

test("a shopper tries on the demo product with a sideways 12 MP phone photo", { timeout: 180_000 }, async (t) => {
  const proxy = await startProxy({ localDurationMs: 3000 });
  t.after(() => proxy.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, problems } = browser;
  const uploads = [];
  page.on("request", (request) => {
    if (request.method() === "POST" && new URL(request.url()).pathname === "/v1/tryons") uploads.push(request);
  });

  await recordFormBodies(page);
  await page.goto(proxy.url);
  const garment = await page.locator("try-on-button").getAttribute("garment");
  const garmentResponse = await fetch(new URL(garment, proxy.url));
  assert.equal(garmentResponse.status, 200, `the demo page's garment ${garment} is not served\n${proxy.describe()}`);
  const stored = withExifOrientation(await drawStoredPhoto(page), 6);
  const photoPath = await saveArtifact("person-4000x3000-exif6.jpg", stored);

  await page.locator("try-on-button button[part=button]").click();
  await page.locator("try-on-button dialog[part=dialog][open]").waitFor({ timeout: 30_000 });
  await recordProgress(page);
  await page.locator("try-on-button input[type=file]").setInputFiles(photoPath);
  await page.locator("try-on-button [data-action=submit]").click({ timeout: 60_000 });

  const outcome = await waitForOutcome(page, proxy, problems);
  await saveArtifact("tryon-result.png", await page.screenshot());
  assert.ok(!outcome.error, `the widget showed an error instead of a result: "${outcome.error}"\n${proxy.describe()}`);
  assert.ok(outcome.result.naturalWidth > 0, "the result image has no pixels");
  assert.ok(outcome.result.inDialog, "the result image is not inside the open dialog");

  // What the proxy says it received (issue 14): the photo once, uploaded to /v1/photos; the
  // person check and the try-on name it by id.
  const received = proxy.logsWith("upload received").filter((entry) => entry.field === "person");
  const byPath = (path) => received.filter((entry) => entry.span?.path === path);
  assert.equal(byPath("/v1/photos").length, 1, `expected one "upload received" log line for the photo\n${proxy.describe()}`);
  assert.equal(received.length, 1, `the photo crossed the network more than once\n${proxy.describe()}`);
  const [log] = byPath("/v1/photos");
  assert.equal(log.format, "jpeg", `the proxy received a ${log.format}, not a JPEG`);
  assert.equal(Math.max(log.width, log.height), PERSON_MAX_EDGE, `long edge of the upload: ${log.width}×${log.height}`);
  assert.ok(log.height > log.width, `the upload is not portrait: ${log.width}×${log.height}`);
  assert.ok(log.bytes < 1_000_000, `the upload is ${log.bytes} bytes, not under 1 MB`);

  // What actually crossed the wire: the photo upload, then the create naming it.
  assert.equal(uploads.length, 1, `expected one POST /v1/tryons, saw ${uploads.length}`);
  const sent = await sentFormBodies(page);
  assert.deepEqual(
    sent.map((entry) => new URL(entry.url, proxy.url).pathname),
    ["/v1/photos", "/v1/tryons"],
    "the multipart bodies went elsewhere",
  );
  const create = parseMultipart(Buffer.from(sent[1].base64, "base64"), sent[1].contentType);
  assert.deepEqual(create.map((part) => part.name).sort(), ["category", "garment_url", "photo_id"], "the create names the photo");
  const parts = parseMultipart(Buffer.from(sent[0].base64, "base64"), sent[0].contentType);
  const person = parts.find((part) => part.name === "person");
  assert.ok(person, `no "person" part in the upload; parts: ${parts.map((part) => part.name).join(", ")}`);
  await saveArtifact("uploaded-person.jpg", person.body);
  const jpeg = readJpeg(person.body);
  assert.deepEqual(
    { width: jpeg.width, height: jpeg.height },
    { width: log.width, height: log.height },
    "the JPEG's frame header disagrees with the proxy's log",
  );
  assert.equal(jpeg.width, Math.round((STORED.height * PERSON_MAX_EDGE) / STORED.width), "the short edge is not scaled in proportion");
  assert.equal(person.body.length, log.bytes, "the proxy logged a different size than was sent");
  const app1 = jpeg.segments.filter((segment) => segment.marker === 0xe1);
  assert.equal(app1.length, 0, "the uploaded JPEG still carries an APP1 (EXIF/XMP) segment");

  // The rotation was applied the right way round: the markers are where the shopper saw them.
  const colours = await coloursAt(page, person.body, [MARKERS.red, MARKERS.blue, ...MARKERS.background]);
  assert.deepEqual(
    colours.map((colour) => colour.split(" ")[0]),
    ["red", "blue", "other", "other"],
    `marker colours at top-right, bottom-left, top-left, bottom-right: ${colours.join(", ")}`,
  );

  // Progress: at least three distinct values, never going backwards.
  const progress = await page.evaluate(() => window.__progress);
  const values = progress.map((entry) => entry.value).filter((value) => Number.isFinite(value));
  const trail = progress.map((entry) => `${entry.value} "${entry.text}"`).join(" → ");
  t.diagnostic(`progress: ${trail}`);
  assert.ok(new Set(values).size >= 3, `fewer than three distinct progress values: ${trail}`);
  for (let i = 1; i < values.length; i += 1) {
    assert.ok(values[i] >= values[i - 1], `progress went backwards: ${trail}`);
  }
  assert.deepEqual(problems, [], "the page logged errors");
});
