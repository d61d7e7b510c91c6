// Shared steps of the shopper-facing end-to-end tests (result actions, remembered photo,
// isolation and accessibility, phone): open the dialog, pick the demo person, wait for the
// result, read what the shadow root shows. Failures name the state the dialog was in.

import path from "node:path";

import { repoRoot, waitFor } from "./util.mjs";

/** The demo storefront's sample person photo (1200×1800 JPEG). */
export const PERSON = path.join(repoRoot, "www/demo/person.jpg");

/** A locator inside the widget's shadow root (playwright's CSS engine pierces open roots). */
export const widget = (page, selector) => page.locator(`try-on-button ${selector}`);

/** What the dialog shows now, for failure messages: open or not, visible error, progress line. */
export async function dialogState(page) {
  return page.evaluate(() => {
    const root = document.querySelector("try-on-button")?.shadowRoot;
    if (!root) return "no <try-on-button> with a shadow root";
    const text = (selector) => {
      const node = root.querySelector(selector);
      return node && !node.closest("[hidden]") ? node.textContent.trim() : null;
    };
    return JSON.stringify({
      open: !!root.querySelector("dialog[open]"),
      error: text("[data-role=error]"),
      progress: text("[data-role=progress-text]"),
      facts: text("[data-role=photo-facts]"),
      result: !!root.querySelector("img[part=result]"),
    });
  });
}

/** Clicks (or taps, with `{ tap: true }`) the page's Try it on button and waits for the dialog. */
export async function openDialog(page, { tap = false } = {}) {
  const button = widget(page, "button[part=button]");
  await (tap ? button.tap() : button.click());
  await widget(page, "dialog[part=dialog][open]").waitFor({ timeout: 30_000 });
}

/** Picks `file` and waits until the prepared photo is shown and Try it on is enabled. */
export async function choosePhoto(page, file = PERSON) {
  await widget(page, "input[type=file]").setInputFiles(file);
  await waitFor(() => widget(page, "[data-action=submit]:not([disabled])").isVisible(), {
    timeoutMs: 60_000,
    describe: async () => `the prepared photo never became ready to send: ${await dialogState(page)}`,
  });
}

/** Presses Try it on (or taps it) and waits for the result image to be decoded. */
export async function submitAndWaitForResult(page, describe, { tap = false } = {}) {
  const submit = widget(page, "[data-action=submit]");
  await (tap ? submit.tap() : submit.click());
  await waitForResult(page, describe);
}

/** Waits until the result image has pixels; fails early on an error sentence. */
export async function waitForResult(page, describe = () => "") {
  const outcome = await waitFor(
    () =>
      page.evaluate(() => {
        const root = document.querySelector("try-on-button").shadowRoot;
        const result = root.querySelector("img[part=result]");
        if (result && result.complete && result.naturalWidth > 0) return { ok: true };
        const error = root.querySelector("[data-role=error]");
        const text = error && !error.closest("[hidden]") ? error.textContent.trim() : "";
        return text ? { error: text } : null;
      }),
    { timeoutMs: 90_000, describe: async () => `no result and no error: ${await dialogState(page)}\n${describe()}` },
  );
  if (outcome.error) throw new Error(`the widget showed an error instead of a result: "${outcome.error}"\n${describe()}`);
}

/** Collects every `tryon:*` event the page hears on `document`, as `{type, detail}`. */
export async function recordEvents(page) {
  await page.addInitScript(() => {
    window.__tryonEvents = [];
    const names = ["open", "photo-ready", "started", "progress", "completed", "failed", "add-to-cart", "closed"];
    for (const name of names) {
      document.addEventListener(`tryon:${name}`, (event) =>
        window.__tryonEvents.push({ type: event.type, detail: { ...event.detail }, cancelable: event.cancelable }),
      );
    }
  });
}

/** The events recorded by recordEvents, optionally only those of `type`. */
export async function events(page, type) {
  const all = await page.evaluate(() => window.__tryonEvents);
  return type ? all.filter((event) => event.type === type) : all;
}
