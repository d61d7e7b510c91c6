// The Shopify theme app extension (www/shopify) as Shopify's own tools and upload rules see it:
// theme-check with the `theme-check:theme-app-extension` config must report zero errors, and the
// folder must keep the layout and limits `shopify app deploy` enforces (checked here because
// the CLI is not available offline). See /work/shared/reference/shopify.md for the rules.

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { themeCheckRun } from "@shopify/theme-check-node";

import { repoRoot } from "./util.mjs";

const extensionRoot = path.join(repoRoot, "www/shopify");

const ALLOWED_ENTRIES = ["assets", "blocks", "locales", "shopify.extension.toml", "snippets"];
const ASSET_TYPES = [".jpg", ".jpeg", ".json", ".js", ".css", ".png", ".svg", ".wasm"];
const MAX_FILE_BYTES = 10 * 1024 * 1024;
const MAX_LIQUID_BYTES = 100 * 1024;
const MAX_LOCALE_BYTES = 15 * 1024;
const MAX_BLOCK_JS_BYTES = 10_000;
const MAX_BLOCKS = 30;
// theme-check severities: 0 error, 1 warning, 2 info.
const ERROR = 0;

/** Every file under `dir` as { rel, bytes }. */
async function filesUnder(dir) {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const files = entries.filter((entry) => entry.isFile());
  return Promise.all(
    files.map(async (entry) => {
      const full = path.join(entry.parentPath, entry.name);
      return { rel: path.relative(extensionRoot, full), bytes: (await stat(full)).size };
    }),
  );
}

function describeOffenses(offenses) {
  return offenses
    .map((o) => `  [${o.severity === ERROR ? "error" : "warning"}] ${o.check} ${o.uri}:${(o.start?.line ?? 0) + 1} ${o.message}`)
    .join("\n");
}

test("theme-check reports no errors on the theme app extension", async () => {
  assert.ok(
    existsSync(path.join(extensionRoot, "assets/widget.js")),
    "www/shopify/assets/widget.js is missing: the build must copy the built widget (target/dist/*) into " +
      "www/shopify/assets/ before this check (both blocks load it with asset_url, so theme-check's " +
      "MissingAsset would fail and so would the storefront)",
  );
  const { offenses, theme } = await themeCheckRun(extensionRoot, "theme-check:theme-app-extension", () => {});
  assert.ok(
    theme.some((file) => file.uri.endsWith("blocks/try-on-button.liquid")),
    `theme-check did not see the app block; it read: ${theme.map((f) => f.uri).join(", ")}`,
  );
  const errors = offenses.filter((o) => o.severity === ERROR);
  assert.equal(errors.length, 0, `theme-check found errors:\n${describeOffenses(offenses)}`);
  if (offenses.length > 0) console.log(`theme-check warnings (not failing):\n${describeOffenses(offenses)}`);
});

test("the extension has only the folders Shopify accepts", async () => {
  const entries = (await readdir(extensionRoot)).sort();
  const unexpected = entries.filter((name) => !ALLOWED_ENTRIES.includes(name));
  assert.deepEqual(unexpected, [], `Shopify rejects these next to shopify.extension.toml: ${unexpected.join(", ")}`);
  for (const required of ["blocks", "shopify.extension.toml"]) {
    assert.ok(entries.includes(required), `www/shopify/${required} is missing`);
  }
});

test("every file is of an accepted type and within Shopify's size limits", async () => {
  const files = await filesUnder(extensionRoot);
  const problems = [];
  for (const { rel, bytes } of files) {
    const [folder, ...rest] = rel.split(path.sep);
    if (bytes > MAX_FILE_BYTES) problems.push(`${rel} is ${bytes} bytes, over 10 MB`);
    if (folder === "assets" && rest.length !== 1) problems.push(`${rel}: assets/ takes no subfolders`);
    if (folder === "assets" && !ASSET_TYPES.includes(path.extname(rel))) problems.push(`${rel}: not an accepted asset type`);
    if ((folder === "blocks" || folder === "snippets") && path.extname(rel) !== ".liquid") problems.push(`${rel}: only .liquid files`);
    if (folder === "locales" && path.extname(rel) !== ".json") problems.push(`${rel}: only .json locale files`);
    if (folder === "locales" && bytes > MAX_LOCALE_BYTES) problems.push(`${rel} is ${bytes} bytes, over 15 KB`);
  }
  assert.deepEqual(problems, []);

  const liquid = files.filter((f) => f.rel.endsWith(".liquid"));
  const liquidBytes = liquid.reduce((sum, f) => sum + f.bytes, 0);
  assert.ok(liquidBytes > 0 && liquidBytes < MAX_LIQUID_BYTES, `all Liquid together is ${liquidBytes} bytes; the limit is 100 KB`);

  const blocks = files.filter((f) => f.rel.startsWith(`blocks${path.sep}`));
  assert.ok(blocks.length >= 2 && blocks.length <= MAX_BLOCKS, `${blocks.length} blocks; Shopify allows ${MAX_BLOCKS}`);
});

test("the app block's own JavaScript stays under theme-check's 10 KB threshold", async () => {
  const script = await stat(path.join(extensionRoot, "assets/tryon-block.js"));
  assert.ok(script.size < MAX_BLOCK_JS_BYTES, `assets/tryon-block.js is ${script.size} bytes`);
});
