// `cargo xtask bench`, browser half: the median time to prepare phone JPEGs in headless Chromium
// several ways in the same page and run — ours (the widget's own worker and the tryon-photo wasm),
// the browser's own path (createImageBitmap + OffscreenCanvas resize + convertToBlob, at quality
// 0.9 and at the browser's default) and the npm package pica (Lanczos3, its workers and wasm) —
// taking turns, with the longest main-thread task each caused.
// Figures, not a test; bounded; loopback only.
//
// Usage: node xtask/bench.mjs DIR NAME... — reads DIR/NAME.jpg (made by xtask/src/bench.rs),
// writes DIR/NAME-METHOD.jpg (the first run's output, for SSIM) and DIR/results.json.

import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";

import { launchBrowser, paths, repoRoot, startProxy } from "../tests/e2e/util.mjs";

const MAX_EDGE = 2048;
const QUALITY = 90;
const RUNS = { default: 7, large: 5 };
const DEADLINE_MS = 10 * 60_000;

const deadline = setTimeout(() => {
  console.error(`bench: gave up after ${DEADLINE_MS / 1000} s`);
  process.exit(1);
}, DEADLINE_MS);
deadline.unref();

/** Runs in the page: times each method on one photo. */
async function measure({ sourceUrl, maxEdge, quality, runs, workerUrl }) {
  const source = await (await fetch(sourceUrl)).blob();
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const base64 = async (blob) => {
    const bytes = new Uint8Array(await blob.arrayBuffer());
    let text = "";
    for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(text);
  };
  const fitted = (width, height) => {
    const scale = Math.min(1, maxEdge / Math.max(width, height));
    return [Math.max(1, Math.round(width * scale)), Math.max(1, Math.round(height * scale))];
  };

  // Longest main-thread task (PerformanceObserver "longtask": tasks over 50 ms) per method.
  let longest = 0;
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) longest = Math.max(longest, entry.duration);
  }).observe({ type: "longtask" });
  const settle = () => new Promise((resolve) => setTimeout(resolve, 100));

  // Runs the methods in turn (A, B, C, A, B, C, …) so a burst of load from elsewhere on the
  // machine falls on all of them alike, after one warm-up each (compiles wasm, starts workers).
  async function timeAll(methods) {
    const figures = {};
    for (const [name, prepareOnce] of Object.entries(methods)) {
      const warm = await prepareOnce();
      figures[name] = { warm, times: [], steps: [], longest: 0 };
    }
    for (let i = 0; i < runs; i += 1) {
      for (const [name, prepareOnce] of Object.entries(methods)) {
        await settle();
        longest = 0;
        const run = await prepareOnce();
        await settle(); // a long task is reported after it ends
        const f = figures[name];
        f.times.push(run.ms);
        if (run.timings) f.steps.push(run.timings);
        f.longest = Math.max(f.longest, longest);
      }
    }
    const summary = {};
    for (const [name, { warm, times, steps, longest }] of Object.entries(figures)) {
      summary[name] = {
        median_ms: median(times),
        min_ms: Math.min(...times),
        max_ms: Math.max(...times),
        first_ms: warm.ms,
        longest_task_ms: longest,
        width: warm.width,
        height: warm.height,
        bytes: warm.jpeg.size,
        jpeg_base64: await base64(warm.jpeg),
        decoded: warm.decoded ?? null,
        quality: warm.quality ?? null,
        steps: steps.length
          ? Object.fromEntries(Object.keys(steps[0]).map((key) => [key, median(steps.map((t) => t[key]))]))
          : null,
      };
    }
    return summary;
  }

  // Ours: the widget's preparation worker, exactly as the widget drives it.
  const worker = new Worker(workerUrl, { type: "module" });
  const bytes = new Uint8Array(await source.arrayBuffer());
  let next = 0;
  const ours = () =>
    new Promise((resolve, reject) => {
      const id = (next += 1);
      const copy = bytes.slice().buffer;
      const started = performance.now();
      worker.onmessage = ({ data }) => {
        if (data.kind !== "prepared" || data.id !== id) return;
        if (!data.ok) return reject(new Error(`the worker refused the photo: ${data.error}`));
        const ms = performance.now() - started;
        const jpeg = new Blob([data.jpeg], { type: "image/jpeg" });
        const decoded = `${data.decodedWidth}×${data.decodedHeight}`;
        const { width, height, timings, quality } = data;
        resolve({ ms, jpeg, width, height, timings, decoded, quality });
      };
      worker.onerror = (event) => reject(new Error(`worker error: ${event.message}`));
      worker.postMessage({ kind: "prepare", id, bytes: copy, maxEdge, quality }, [copy]);
    });

  // The browser's own path, as a page would write it (quality undefined: the browser's default).
  const browserAt = (jpegQuality) => async () => {
    const started = performance.now();
    const bitmap = await createImageBitmap(source);
    const [width, height] = fitted(bitmap.width, bitmap.height);
    const target = new OffscreenCanvas(width, height);
    const ctx = target.getContext("2d");
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(bitmap, 0, 0, width, height);
    bitmap.close();
    const jpeg = await target.convertToBlob({ type: "image/jpeg", quality: jpegQuality });
    return { ms: performance.now() - started, jpeg, width, height };
  };
  const browser = browserAt(quality / 100);
  const browserDefault = browserAt(undefined);

  // pica: the browser decodes, pica resizes with Lanczos3 (its workers and wasm), canvas encodes.
  const resizer = window.pica();
  const pica = async () => {
    const started = performance.now();
    const bitmap = await createImageBitmap(source);
    const [width, height] = fitted(bitmap.width, bitmap.height);
    const target = document.createElement("canvas");
    target.width = width;
    target.height = height;
    await resizer.resize(bitmap, target, { filter: "lanczos3" });
    bitmap.close();
    const jpeg = await resizer.toBlob(target, "image/jpeg", quality / 100);
    return { ms: performance.now() - started, jpeg, width, height };
  };

  const methods = await timeAll({ ours, browser, "browser-default": browserDefault, pica });
  worker.terminate();
  return { source_bytes: source.size, methods };
}

const [dir, ...names] = process.argv.slice(2);
if (!dir || names.length === 0) {
  console.error("usage: node xtask/bench.mjs DIR NAME...");
  process.exit(2);
}
const manifest = JSON.parse(await readFile(path.join(paths.distDir, "manifest.json"), "utf8"));
const proxy = await startProxy();
const browser = await launchBrowser();
try {
  const page = browser.page;
  // The generated photos are served to the page from disk, never from the network.
  await page.route("**/__bench/*.jpg", async (route) => {
    const name = path.basename(new URL(route.request().url()).pathname);
    route.fulfill({ contentType: "image/jpeg", body: await readFile(path.join(dir, name)) });
  });
  await page.goto(proxy.url);
  await page.addScriptTag({ path: path.join(repoRoot, "node_modules/pica/dist/pica.min.js") });
  const workerUrl = new URL(manifest.worker, proxy.url).href;
  const pica = JSON.parse(await readFile(path.join(repoRoot, "node_modules/pica/package.json"), "utf8"));
  const results = {
    chromium: browser.context.browser()?.version() ?? "Debian chromium",
    pica: pica.version,
    max_edge: MAX_EDGE,
    quality: QUALITY,
    photos: {},
  };
  for (const name of names) {
    const runs = name.startsWith("48") ? RUNS.large : RUNS.default;
    const sourceUrl = new URL(`/__bench/${name}.jpg`, proxy.url).href;
    const figures = await page.evaluate(measure, { sourceUrl, maxEdge: MAX_EDGE, quality: QUALITY, runs, workerUrl });
    for (const [method, f] of Object.entries(figures.methods)) {
      await writeFile(path.join(dir, `${name}-${method}.jpg`), Buffer.from(f.jpeg_base64, "base64"));
      delete f.jpeg_base64;
    }
    results.photos[name] = { runs, ...figures };
    console.error(`bench: ${name} done`);
  }
  await writeFile(path.join(dir, "results.json"), JSON.stringify(results, null, 2) + "\n");
  if (browser.problems.length) console.error(browser.problems.join("\n"));
} finally {
  await browser.close();
  await proxy.stop();
}
