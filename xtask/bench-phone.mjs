// `cargo xtask bench`, phone half: the whole try-on as a shopper on a phone lives it, in headless
// Chromium with Lighthouse's mobile profile (DevTools network emulation at 150 ms round trip,
// 1.6 Mbit/s down, 750 kbit/s up; a 4× CPU slowdown; a 390×844 touch viewport), on the demo
// storefront with the local provider taking a known time. It times tap → dialog usable,
// photo chosen → "Try it on" enabled, photo chosen → settled (uploaded and checked: no progress
// line left), "Try it on" → result, and counts every request body the page sends, whatever flow
// the widget uses (one upload or several, XHR or fetch). Each photo is run twice per round: a
// shopper who reads the photo's facts and presses once it is settled ("reads"), and one who
// presses the moment the button is enabled ("at once", so the rest of the upload lands in her
// wait for the result). After the press it lists every request the page made, from the
// browser's resource timing, relative to the press: where the wait for the result goes.
// Figures, not a test; bounded; loopback only.
//
// Usage: node xtask/bench-phone.mjs OUT.json PROVIDER_MS RUNS NAME=PHOTO... — writes OUT.json.

import { writeFile } from "node:fs/promises";

import { launchBrowser, startProxy } from "../tests/e2e/util.mjs";
import { dialogState, widget } from "../tests/e2e/widget-flow.mjs";

/** Lighthouse's mobile throttling, as DevTools applies it (bytes per second). */
const PROFILE = {
  latencyMs: 150,
  downloadBytesPerSecond: 200_000,
  uploadBytesPerSecond: 93_750,
  cpuSlowdown: 4,
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 3,
};
const STEP_TIMEOUT_MS = 180_000;
const DEADLINE_MS = 20 * 60_000;

const deadline = setTimeout(() => {
  console.error(`bench-phone: gave up after ${DEADLINE_MS / 1000} s`);
  process.exit(1);
}, DEADLINE_MS);
deadline.unref();

/**
 * Runs in the page before any script: notes when the shopper touches the screen, and the size
 * of every request body XHR and fetch send (a FormData's size as Chromium encodes it, with the
 * size of each file part), with the page's clock.
 */
function instrument() {
  const log = (window.__bench = { taps: [], bodies: [] });
  document.addEventListener("pointerdown", () => log.taps.push(performance.now()), true);
  const measure = async (method, url, body, at) => {
    if (body == null) return;
    const parts = {};
    if (body instanceof FormData) {
      for (const [name, value] of body.entries()) if (value instanceof Blob) parts[name] = value.size;
    }
    const bytes = (await new Response(body).arrayBuffer()).byteLength;
    log.bodies.push({ method, url: String(url), bytes, parts, at });
  };
  const open = XMLHttpRequest.prototype.open;
  XMLHttpRequest.prototype.open = function (method, url, ...rest) {
    this.__bench = { method, url };
    return open.call(this, method, url, ...rest);
  };
  const send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function (body) {
    const { method, url } = this.__bench || {};
    measure(method, url, body, performance.now());
    return send.call(this, body);
  };
  const fetch = window.fetch;
  window.fetch = function (input, init = {}) {
    const url = input instanceof Request ? input.url : input;
    const method = init.method || (input instanceof Request ? input.method : "GET");
    measure(method, url, init.body, performance.now());
    return fetch.call(this, input, init);
  };
}

/** The page's clock once `condition` holds in the widget's shadow root (checked every frame). */
async function when(page, condition, what) {
  try {
    const handle = await page.waitForFunction(
      (source) => {
        const root = document.querySelector("try-on-button")?.shadowRoot;
        const shown = (node) => node && node.getClientRects().length > 0 && !node.closest("[hidden]");
        return root && new Function("root", "shown", `return (${source})`)(root, shown) ? performance.now() : 0;
      },
      condition,
      { polling: "raf", timeout: STEP_TIMEOUT_MS },
    );
    return handle.jsonValue();
  } catch (error) {
    throw new Error(`${what}: ${error.message}\n${await dialogState(page)}`);
  }
}

const DIALOG_USABLE = "root.querySelector('dialog[part=dialog][open]') && shown(root.querySelector('label.pick'))";
const SUBMIT_ENABLED = "shown(root.querySelector('[data-action=submit]:not([disabled])'))";
// Enabled and nothing in progress any more: the photo is uploaded and checked.
const SETTLED = `${SUBMIT_ENABLED} && !shown(root.querySelector('[data-role=progress-text]'))`;
const RESULT_SHOWN =
  "(() => { const img = root.querySelector('img[part=result]'); return img && img.complete && img.naturalWidth > 0; })()";

/** One shopper, cold cache: open the product page, tap, pick `photo`, try it on (`atOnce`: the
 * moment Try it on is enabled; otherwise once the photo is settled). */
async function run(photo, providerMs, atOnce) {
  const proxy = await startProxy({ localDurationMs: providerMs });
  const browser = await launchBrowser({
    viewport: PROFILE.viewport,
    device: { hasTouch: true, isMobile: true, deviceScaleFactor: PROFILE.deviceScaleFactor },
  });
  try {
    const { page, context } = browser;
    const cdp = await context.newCDPSession(page);
    // CDP's network timestamps are monotonic seconds; requestWillBeSent also gives the wall
    // clock, which pairs them with the page's clock (performance.timeOrigin + now).
    const received = [];
    let wallMinusMonotonic = null;
    // Every request with a method that carries a body, as DevTools saw it: a cross-check that
    // the page's counters missed none (a body sent from a worker would show here only).
    const posted = [];
    cdp.on("Network.requestWillBeSent", ({ timestamp, wallTime, request }) => {
      wallMinusMonotonic ??= wallTime - timestamp;
      if (!["GET", "HEAD", "OPTIONS"].includes(request.method)) {
        posted.push(`${request.method} ${new URL(request.url).pathname}`);
      }
    });
    cdp.on("Network.loadingFinished", ({ timestamp, encodedDataLength }) =>
      received.push({ at: timestamp, bytes: encodedDataLength }),
    );
    await cdp.send("Network.enable");
    await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
    await cdp.send("Network.emulateNetworkConditions", {
      offline: false,
      latency: PROFILE.latencyMs,
      downloadThroughput: PROFILE.downloadBytesPerSecond,
      uploadThroughput: PROFILE.uploadBytesPerSecond,
    });
    await cdp.send("Emulation.setCPUThrottlingRate", { rate: PROFILE.cpuSlowdown });
    await page.addInitScript(instrument);
    await page.goto(proxy.url, { waitUntil: "load" });
    await widget(page, "button[part=button]").waitFor({ timeout: STEP_TIMEOUT_MS });
    const timeOrigin = await page.evaluate(() => performance.timeOrigin);
    const receivedBetween = (from, to) =>
      received
        .map(({ at, bytes }) => ({ at: (at + wallMinusMonotonic) * 1000 - timeOrigin, bytes }))
        .filter(({ at }) => at >= from && at <= to)
        .reduce((sum, { bytes }) => sum + bytes, 0);

    await widget(page, "button[part=button]").tap();
    const dialogUsable = await when(page, DIALOG_USABLE, "the dialog never became usable");
    const tapped = (await page.evaluate(() => window.__bench.taps)).at(-1);

    const [chooser] = await Promise.all([page.waitForEvent("filechooser"), widget(page, "label.pick").tap()]);
    // The moment the page has the file: the input's change event, inside the shadow root.
    await page.evaluate(() => {
      const input = document.querySelector("try-on-button").shadowRoot.querySelector("input[type=file]");
      input.addEventListener("change", () => (window.__bench.chosen = performance.now()), { once: true });
    });
    await chooser.setFiles(photo);
    const enabled = await when(page, SUBMIT_ENABLED, "the prepared photo never became ready to send");
    const chosen = await page.evaluate(() => window.__bench.chosen);
    const facts = await widget(page, "[data-role=photo-facts]").textContent();
    const settled = atOnce ? null : await when(page, SETTLED, "the photo was never uploaded and checked");

    await widget(page, "[data-action=submit]").tap();
    const result = await when(page, RESULT_SHOWN, "no result");
    const submitted = (await page.evaluate(() => window.__bench.taps)).at(-1);
    // Every request since the press, as the browser's resource timing has it (an event stream
    // appears once it ended), relative to the press.
    const timeline = await page.evaluate(
      (from) =>
        performance
          .getEntriesByType("resource")
          .filter((entry) => entry.responseEnd >= from)
          .map((entry) => ({
            task: /\/v1\/tryons\/([0-9a-f]{32})\//.exec(entry.name)?.[1],
            path: new URL(entry.name).pathname.replace(/[0-9a-f]{8,}/g, "…"),
            type: entry.initiatorType,
            start_ms: Math.round(entry.startTime - from),
            first_byte_ms: Math.round(entry.responseStart - from),
            end_ms: Math.round(entry.responseEnd - from),
            bytes: entry.encodedBodySize,
          })),
      submitted,
    );
    // The task's own time at the proxy, from its creation to its success (the provider's work
    // and the proxy's around it), read unthrottled from its status: the part of the wait the
    // phone's network and CPU have no share in.
    const task = timeline.find((entry) => entry.task)?.task;
    const view = task ? await (await fetch(new URL(`/v1/tryons/${task}`, proxy.url))).json() : {};
    const taskMs = Date.parse(view.updated_at) - Date.parse(view.created_at);
    // A request body still being measured when the result shows is waited for, briefly.
    await page.waitForTimeout(200);
    const bodies = await page.evaluate(() => window.__bench.bodies);
    const during = (from, to) => bodies.filter(({ at }) => at >= from && at <= to);
    const sum = (list) => list.reduce((total, { bytes }) => total + bytes, 0);
    const photoUploads = bodies.filter(({ parts }) => Object.keys(parts).length > 0);
    return {
      tap_to_dialog_ms: dialogUsable - tapped,
      tap_to_dialog_received_bytes: receivedBetween(tapped, dialogUsable),
      photo_to_enabled_ms: enabled - chosen,
      photo_to_enabled_sent_bytes: sum(during(chosen, enabled)),
      photo_to_settled_ms: settled === null ? null : settled - chosen,
      photo_to_result_ms: result - chosen,
      submit_to_result_ms: result - submitted,
      task_ms: Number.isFinite(taskMs) ? taskMs : null,
      timeline: timeline.map(({ task, ...entry }) => entry),
      submit_to_result_sent_bytes: sum(during(submitted, result)),
      requests_with_bodies: bodies.map(({ method, url, bytes, parts }) => ({
        method,
        path: new URL(url, proxy.url).pathname,
        bytes,
        parts,
      })),
      devtools_requests_with_bodies: posted,
      photo_uploads: photoUploads.length,
      sent_bytes: sum(bodies),
      prepared_bytes: Math.max(0, ...photoUploads.map(({ parts }) => Math.max(...Object.values(parts)))),
      facts: facts.trim(),
    };
  } finally {
    await browser.close();
    await proxy.stop();
  }
}

const [out, providerMs, runs, ...photos] = process.argv.slice(2);
if (!out || !providerMs || !runs || photos.length === 0) {
  console.error("usage: node xtask/bench-phone.mjs OUT.json PROVIDER_MS RUNS NAME=PHOTO...");
  process.exit(2);
}
const results = { profile: PROFILE, provider_ms: Number(providerMs), photos: {} };
for (const spec of photos) {
  const [name, file] = spec.split("=");
  for (const atOnce of [false, true]) {
    const list = [];
    for (let i = 0; i < Number(runs); i += 1) {
      list.push(await run(file, Number(providerMs), atOnce));
      console.error(`bench-phone: ${name}${atOnce ? " at once" : ""} run ${i + 1} done`);
    }
    results.photos[atOnce ? `${name}, pressed at once` : name] = list;
  }
}
await writeFile(out, JSON.stringify(results, null, 2) + "\n");
