// The skeleton's browser flow with Fitroom behind the proxy (issue 3): the real proxy binary with
// TRYON_PROVIDER=fitroom talks to the strict Fitroom fake on loopback. The shopper gets the
// fake's result inline with Fitroom's reported progress; the fake saw one create, one person
// check, and no deviation from Fitroom's document.

import assert from "node:assert/strict";
import { test } from "node:test";
import path from "node:path";

import { startFakeProvider } from "./fake-provider.mjs";
import { launchBrowser, repoRoot, saveArtifact, startProxy, waitFor } from "./util.mjs";

const KEY = "fr_e2e_DISTINCTIVE_key_0c7d";
// Fitroom is polled every 1.5 s: a 7.5 s task shows several reported values on the way.
const TASK_MS = 7500;
// The fake's result picture: a 64×96 PNG whose green channel is 100.
const RESULT = { width: 64, height: 96, green: 100 };

/** Records every value the progress bar shows, from inside the widget's shadow root. */
async function recordProgress(page) {
  await page.evaluate(() => {
    const root = document.querySelector("try-on-button").shadowRoot;
    const seen = (window.__progress = []);
    const sample = () => {
      const bar = root.querySelector("[part=progress]");
      if (!bar || bar.closest("[hidden]")) return;
      const raw = bar.getAttribute("aria-valuenow") ?? bar.getAttribute("value");
      const value = raw === null ? null : Number(raw);
      if (seen[seen.length - 1] !== value) seen.push(value);
    };
    new MutationObserver(sample).observe(root, { subtree: true, attributes: true, childList: true, characterData: true });
    setInterval(sample, 25);
  });
}

/** The result picture in the dialog (size and the colour at its centre), or the error shown. */
async function outcome(page) {
  return page.evaluate(() => {
    const root = document.querySelector("try-on-button").shadowRoot;
    const result = root.querySelector("img[part=result]");
    if (result && result.complete && result.naturalWidth > 0) {
      const canvas = document.createElement("canvas");
      [canvas.width, canvas.height] = [result.naturalWidth, result.naturalHeight];
      const ctx = canvas.getContext("2d");
      ctx.drawImage(result, 0, 0);
      const [r, g, b] = ctx.getImageData(canvas.width >> 1, canvas.height >> 1, 1, 1).data;
      return {
        result: { width: result.naturalWidth, height: result.naturalHeight, centre: [r, g, b], inDialog: !!result.closest("dialog[open]") },
      };
    }
    const error = root.querySelector("[data-role=error]");
    const text = error && !error.closest("[hidden]") ? error.textContent.trim() : "";
    return text ? { error: text } : null;
  });
}

test("a shopper tries on the demo product with Fitroom (its strict fake) behind the proxy", { timeout: 180_000 }, async (t) => {
  const fake = await startFakeProvider({ provider: "fitroom", key: KEY, taskMs: TASK_MS });
  t.after(() => fake.stop());
  const proxy = await startProxy({
    env: { TRYON_PROVIDER: "fitroom", FITROOM_API_KEY: KEY, FITROOM_BASE_URL: fake.url },
  });
  t.after(() => proxy.stop());
  const browser = await launchBrowser();
  t.after(() => browser.close());
  const { page, problems } = browser;
  const created = [];
  page.on("response", async (response) => {
    if (response.request().method() === "POST" && new URL(response.url()).pathname === "/v1/tryons") {
      created.push(await response.json().catch(() => null));
    }
  });

  const config = await (await fetch(new URL("/v1/config", proxy.url))).json();
  assert.equal(config.provider, "fitroom", `the proxy does not run Fitroom: ${JSON.stringify(config)}\n${proxy.describe()}`);

  await page.goto(proxy.url);
  await page.locator("try-on-button button[part=button]").click();
  await page.locator("try-on-button dialog[part=dialog][open]").waitFor({ timeout: 30_000 });
  await recordProgress(page);
  await page.locator("try-on-button input[type=file]").setInputFiles(path.join(repoRoot, "www/demo/person.jpg"));
  await page.locator("try-on-button [data-action=submit]").click({ timeout: 60_000 });

  const shown = await waitFor(() => outcome(page), {
    timeoutMs: 90_000,
    describe: async () =>
      `no result and no error in the dialog\npage problems: ${JSON.stringify(problems)}\nfake calls: ${JSON.stringify(await fake.calls())}\n${proxy.describe()}`,
  });
  await saveArtifact("fitroom-result.png", await page.screenshot());
  assert.ok(!shown.error, `the widget showed an error instead of a result: "${shown.error}"\n${proxy.describe()}`);
  assert.ok(shown.result.inDialog, "the result image is not inside the open dialog");
  assert.deepEqual(
    [shown.result.width, shown.result.height],
    [RESULT.width, RESULT.height],
    "the picture shown is not the one the Fitroom fake produced",
  );
  assert.ok(Math.abs(shown.result.centre[1] - RESULT.green) <= 8, `the result's colour ${shown.result.centre} is not the fake's`);

  // Fitroom's own progress passed through: several values, never backwards.
  const values = (await page.evaluate(() => window.__progress)).filter((value) => Number.isFinite(value));
  t.diagnostic(`progress: ${values.join(" → ")}`);
  assert.ok(new Set(values).size >= 3, `fewer than three distinct progress values: ${values.join(" → ")}`);
  for (let i = 1; i < values.length; i += 1) {
    assert.ok(values[i] >= values[i - 1], `progress went backwards: ${values.join(" → ")}`);
  }
  assert.equal(created.length, 1, `expected one POST /v1/tryons, saw ${created.length}`);
  const task = await (await fetch(new URL(`/v1/tryons/${created[0].id}`, proxy.url))).json();
  assert.equal(task.status, "succeeded", JSON.stringify(task));
  assert.equal(task.progress_kind, "reported", `Fitroom's progress is its own, not an estimate: ${JSON.stringify(task)}`);

  // What Fitroom saw: one paid create, the person check, polls, and nothing off the document.
  const calls = await fake.calls();
  t.diagnostic(`fitroom calls: ${JSON.stringify(calls)}`);
  assert.equal(calls.create, 1, `expected exactly one create at Fitroom: ${JSON.stringify(calls)}`);
  assert.equal(calls.check_model, 1, `expected the person check once: ${JSON.stringify(calls)}`);
  assert.ok(calls.status >= 2, `expected Fitroom's task to be polled: ${JSON.stringify(calls)}`);
  assert.deepEqual(await fake.deviations(), [], "the proxy deviated from Fitroom's document");
  assert.ok(!proxy.stderr.includes(KEY), "the Fitroom key appeared in the proxy's log");
  assert.deepEqual(problems, [], "the page logged errors");
});
