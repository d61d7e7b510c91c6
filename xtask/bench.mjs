// `cargo xtask bench`, browser half: the median time to prepare a 12 MP phone JPEG in headless
// Chromium with our wasm (through the widget's own worker, as the shopper's browser runs it),
// next to the browser's own path (createImageBitmap + canvas resize + JPEG encode), both in the
// same page and run. Figures, not a test; bounded; loopback only.

import { readFile } from "node:fs/promises";
import path from "node:path";

import { launchBrowser, paths, startProxy } from "../tests/e2e/util.mjs";

const PHOTO = { width: 4032, height: 3024 };
const MAX_EDGE = 2048;
const QUALITY = 90;
const RUNS = 7;
const DEADLINE_MS = 5 * 60_000;

const deadline = setTimeout(() => {
  console.error(`bench: gave up after ${DEADLINE_MS / 1000} s`);
  process.exit(1);
}, DEADLINE_MS);
deadline.unref();

/** Runs in the page: makes a photo-like JPEG (gradients, shapes and sensor-like noise, so the
 * encoder and decoder do realistic work), then times both preparation paths. */
async function measure({ photo, maxEdge, quality, runs, workerUrl }) {
  const canvas = new OffscreenCanvas(photo.width, photo.height);
  const ctx = canvas.getContext("2d");
  const light = ctx.createLinearGradient(0, 0, photo.width, photo.height);
  light.addColorStop(0, "#f3e9dc");
  light.addColorStop(1, "#8a9bb0");
  ctx.fillStyle = light;
  ctx.fillRect(0, 0, photo.width, photo.height);
  for (let i = 0; i < 40; i += 1) {
    ctx.fillStyle = `hsl(${(i * 47) % 360} 45% ${30 + (i % 5) * 10}%)`;
    ctx.beginPath();
    ctx.arc((i * 733) % photo.width, (i * 397) % photo.height, 80 + ((i * 53) % 300), 0, 2 * Math.PI);
    ctx.fill();
  }
  const pixels = ctx.getImageData(0, 0, photo.width, photo.height);
  let seed = 12345;
  for (let i = 0; i < pixels.data.length; i += 4) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const noise = ((seed >>> 24) % 17) - 8;
    pixels.data[i] += noise;
    pixels.data[i + 1] += noise;
    pixels.data[i + 2] += noise;
  }
  ctx.putImageData(pixels, 0, 0);
  const source = await canvas.convertToBlob({ type: "image/jpeg", quality: 0.92 });
  const sourceBytes = new Uint8Array(await source.arrayBuffer());

  const median = (times) => [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)];
  const summarise = (times, output) => ({
    median_ms: median(times),
    min_ms: Math.min(...times),
    max_ms: Math.max(...times),
    output,
  });

  // Ours: the widget's preparation worker and the tryon-photo wasm module.
  const worker = new Worker(workerUrl, { type: "module" });
  let next = 0;
  const prepare = () =>
    new Promise((resolve, reject) => {
      const id = (next += 1);
      const copy = sourceBytes.slice().buffer;
      const started = performance.now();
      worker.onmessage = ({ data }) => {
        if (data.kind !== "prepared" || data.id !== id) return;
        if (!data.ok) return reject(new Error(`the worker refused the photo: ${data.error}`));
        resolve({ ms: performance.now() - started, bytes: data.jpeg.byteLength, width: data.width, height: data.height });
      };
      worker.onerror = (event) => reject(new Error(`worker error: ${event.message}`));
      worker.postMessage({ kind: "prepare", id, bytes: copy, maxEdge, quality }, [copy]);
    });
  const warmWasm = await prepare(); // compiles and instantiates the module
  const wasmRuns = [];
  for (let i = 0; i < runs; i += 1) wasmRuns.push(await prepare());
  worker.terminate();

  // The browser's own path, on the main thread as a page would do it.
  const browserPrepare = async () => {
    const started = performance.now();
    const bitmap = await createImageBitmap(source);
    const scale = Math.min(1, maxEdge / Math.max(bitmap.width, bitmap.height));
    const [width, height] = [Math.round(bitmap.width * scale), Math.round(bitmap.height * scale)];
    const target = new OffscreenCanvas(width, height);
    const targetCtx = target.getContext("2d");
    targetCtx.imageSmoothingQuality = "high";
    targetCtx.drawImage(bitmap, 0, 0, width, height);
    bitmap.close();
    const jpeg = await target.convertToBlob({ type: "image/jpeg", quality: quality / 100 });
    return { ms: performance.now() - started, bytes: jpeg.size, width, height };
  };
  await browserPrepare();
  const browserRuns = [];
  for (let i = 0; i < runs; i += 1) browserRuns.push(await browserPrepare());

  const output = (run) => ({ width: run.width, height: run.height, bytes: run.bytes });
  return {
    source_bytes: sourceBytes.length,
    first_wasm_ms: warmWasm.ms,
    wasm: summarise(wasmRuns.map((run) => run.ms), output(wasmRuns[0])),
    browser: summarise(browserRuns.map((run) => run.ms), output(browserRuns[0])),
  };
}

const manifest = JSON.parse(await readFile(path.join(paths.distDir, "manifest.json"), "utf8"));
const proxy = await startProxy();
const browser = await launchBrowser();
try {
  await browser.page.goto(proxy.url);
  const workerUrl = new URL(manifest.worker, proxy.url).href;
  const figures = await browser.page.evaluate(measure, { photo: PHOTO, maxEdge: MAX_EDGE, quality: QUALITY, runs: RUNS, workerUrl });
  const row = (label, f) =>
    `${label.padEnd(44)} ${f.median_ms.toFixed(0).padStart(7)} ms  (min ${f.min_ms.toFixed(0)}, max ${f.max_ms.toFixed(0)})  ` +
    `→ ${f.output.width}×${f.output.height}, ${(f.output.bytes / 1024).toFixed(0)} KiB`;
  const chromium = browser.context.browser()?.version() ?? "Debian chromium";
  console.log(`\nPreparing a ${PHOTO.width}×${PHOTO.height} JPEG (${(figures.source_bytes / 1024 / 1024).toFixed(1)} MiB) ` +
    `to long edge ${MAX_EDGE}, JPEG quality ${QUALITY}; median of ${RUNS} runs after one warm-up, headless Chromium ${chromium}:`);
  console.log(row("tryon-photo wasm (widget worker)", figures.wasm));
  console.log(row("browser (createImageBitmap + canvas + JPEG)", figures.browser));
  console.log(`first wasm run, including module compile: ${figures.first_wasm_ms.toFixed(0)} ms\n`);
} finally {
  await browser.close();
  await proxy.stop();
}
