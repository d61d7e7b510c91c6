// The photo-preparation worker (www/prepare-worker.js + the tryon-photo wasm) through its message
// protocol, in real headless Chromium: what the browser decodes is converted (a transparent PNG
// onto white, a GIF the header reader does not know), the colours survive the BGRA copy, an EXIF
// orientation is applied (with WebCodecs a large JPEG is decoded by ImageDecoder at a reduced
// scale and turned upright in wasm; without, createImageBitmap turns it), a bomb
// is refused from its header before the browser decodes it, junk is an unsupported type — and
// the same again with WebCodecs hidden, so the getImageData fallback is exercised too.

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";

import { exifOrientationSegment, launchBrowser, paths, startProxy } from "./util.mjs";

/** Runs in the page: starts the worker (optionally without VideoFrame), prepares each case and
 * describes the outcome: the error code, or the output's size and the colour at two points. */
async function prepareCases({ workerUrl, hideVideoFrame, portraitExif }) {
  const encode = async (draw, type, width = 300, height = 200) => {
    const canvas = new OffscreenCanvas(width, height);
    draw(canvas.getContext("2d"));
    return new Uint8Array(await (await canvas.convertToBlob({ type })).arrayBuffer());
  };
  // Left half transparent, right half red.
  const png = await encode((ctx) => {
    ctx.fillStyle = "#f00";
    ctx.fillRect(150, 0, 150, 200);
  }, "image/png");
  // Left half green, right half blue: a swapped red/blue channel shows.
  const jpeg = await encode((ctx) => {
    ctx.fillStyle = "#0a0";
    ctx.fillRect(0, 0, 150, 200);
    ctx.fillStyle = "#00c";
    ctx.fillRect(150, 0, 150, 200);
  }, "image/jpeg");
  // A 12 MP photo as a phone held upright stores it: landscape pixels in four coloured
  // quadrants (any wrong turn or mirror moves them), with EXIF orientation 6 (turn 90°
  // clockwise). With WebCodecs it takes the reduced-scale ImageDecoder path, whose frames come
  // as stored, so the rotation done in wasm is what is checked; without, createImageBitmap's.
  const stored = await encode((ctx) => {
    [["#0a0", 0, 0], ["#00c", 2000, 0], ["#c00", 0, 1500], ["#dd0", 2000, 1500]].forEach(([colour, x, y]) => {
      ctx.fillStyle = colour;
      ctx.fillRect(x, y, 2000, 1500);
    });
  }, "image/jpeg", 4000, 3000);
  const portrait = new Uint8Array([...stored.subarray(0, 2), ...portraitExif, ...stored.subarray(2)]);
  // The same JPEG with its frame header claiming 65500×65500 (16 GiB of pixels).
  const bomb = jpeg.slice();
  const sof = bomb.findIndex((byte, i) => byte === 0xff && bomb[i + 1] === 0xc0);
  bomb.set([0xff, 0xdc, 0xff, 0xdc], sof + 5);
  // A 1×1 GIF: not a format the header reader knows, but one every browser decodes.
  const gif = Uint8Array.from(atob("R0lGODlhAQABAIAAAP8AAP///yH5BAEAAAAALAAAAAABAAEAAAICRAEAOw=="), (c) => c.charCodeAt(0));
  const junk = new TextEncoder().encode("this is not a picture at all");

  // Started as the widget starts it: a blob module that imports the real script and says so
  // (messages sent before the import finished would find no listener).
  const hide = hideVideoFrame ? "self.VideoFrame = undefined;" : "";
  const code = `${hide} import(${JSON.stringify(workerUrl)}).then(() => postMessage({ kind: "ready" }));`;
  const worker = new Worker(URL.createObjectURL(new Blob([code], { type: "text/javascript" })), { type: "module" });
  await new Promise((resolve, reject) => {
    worker.addEventListener("message", ({ data }) => data.kind === "ready" && resolve());
    worker.onerror = (event) => reject(new Error(`the worker did not start: ${event.message}`));
  });
  let next = 0;
  const prepare = (bytes, maxEdge = 100) =>
    new Promise((resolve, reject) => {
      const id = (next += 1);
      const listener = ({ data }) => {
        if (data.kind !== "prepared" || data.id !== id) return;
        worker.removeEventListener("message", listener);
        resolve(data);
      };
      worker.addEventListener("message", listener);
      worker.onerror = (event) => reject(new Error(`worker error: ${event.message}`));
      const copy = bytes.slice().buffer;
      worker.postMessage({ kind: "prepare", id, bytes: copy, maxEdge, quality: 90 }, [copy]);
    });
  const describe = async (answer) => {
    if (!answer.ok) return { error: answer.error };
    const bitmap = await createImageBitmap(new Blob([answer.jpeg]));
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const ctx = canvas.getContext("2d");
    ctx.drawImage(bitmap, 0, 0);
    const at = (x, y) => [...ctx.getImageData(x, y, 1, 1).data.subarray(0, 3)];
    return {
      size: [answer.width, answer.height],
      source: [answer.sourceWidth, answer.sourceHeight],
      decoded: [bitmap.width, bitmap.height],
      left: at(10, 30),
      right: at(Math.max(0, bitmap.width - 10), 30),
      quadrants: [1, 3].flatMap((y) => [1, 3].map((x) => at(Math.floor((x * bitmap.width) / 4), Math.floor((y * bitmap.height) / 4)))),
    };
  };
  const outcome = {};
  for (const [name, bytes] of Object.entries({ png, jpeg, bomb, gif, junk })) outcome[name] = await describe(await prepare(bytes));
  outcome.portrait = await describe(await prepare(portrait, 2048));
  worker.terminate();
  return outcome;
}

const near = (got, want, what) =>
  assert.ok(
    got.every((value, i) => Math.abs(value - want[i]) <= 24),
    `${what}: got rgb(${got}), want about rgb(${want})`,
  );

for (const hideVideoFrame of [false, true]) {
  const how = hideVideoFrame ? "without WebCodecs (getImageData)" : "with VideoFrame.copyTo";
  test(`the worker converts what the browser decodes and refuses bombs and junk, ${how}`, { timeout: 120_000 }, async (t) => {
    const proxy = await startProxy();
    t.after(() => proxy.stop());
    const browser = await launchBrowser();
    t.after(() => browser.close());
    const manifest = JSON.parse(await readFile(path.join(paths.distDir, "manifest.json"), "utf8"));
    await browser.page.goto(proxy.url);
    const workerUrl = new URL(manifest.worker, proxy.url).href;
    const portraitExif = [...exifOrientationSegment(6)];
    const outcome = await browser.page.evaluate(prepareCases, { workerUrl, hideVideoFrame, portraitExif });
    const show = JSON.stringify(outcome);

    assert.deepEqual(outcome.png.size, [100, 67], show);
    assert.deepEqual(outcome.png.source, [300, 200], show);
    near(outcome.png.left, [255, 255, 255], "transparent PNG pixels become white");
    near(outcome.png.right, [255, 0, 0], "opaque red stays red");
    assert.deepEqual(outcome.jpeg.size, [100, 67], show);
    near(outcome.jpeg.left, [0, 170, 0], "green");
    near(outcome.jpeg.right, [0, 0, 204], "blue (not red: the channel order is right)");
    assert.deepEqual(outcome.portrait.size, [1536, 2048], `EXIF orientation 6 turns the photo: ${show}`);
    assert.deepEqual(outcome.portrait.source, [4000, 3000], show);
    // Turned clockwise, the stored left column (green over red) becomes the top row, red first.
    const upright = { "top left": [204, 0, 0], "top right": [0, 170, 0], "bottom left": [221, 221, 0], "bottom right": [0, 0, 204] };
    Object.entries(upright).forEach(([where, colour], i) =>
      near(outcome.portrait.quadrants[i], colour, `EXIF orientation 6 is applied: ${where}`),
    );
    assert.deepEqual(outcome.bomb, { error: "image_too_large" }, show);
    assert.deepEqual(outcome.gif.size, [1, 1], `a GIF the browser decodes is converted: ${show}`);
    assert.deepEqual(outcome.junk, { error: "unsupported_type" }, show);
    assert.deepEqual(browser.problems, []);
  });
}
