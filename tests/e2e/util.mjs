// Shared helpers for the end-to-end tests: the real proxy binary on a loopback port, Debian's
// Chromium driven by playwright-core, and readers for what crossed the wire (multipart bodies,
// JPEG segments). Failures say what was expected, what happened, and what the proxy logged.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Where the parts under test live; `cargo xtask test` sets these, the defaults match it. */
export const paths = {
  proxyBin: process.env.TRYON_PROXY_BIN || path.join(repoRoot, "target/debug/tryon-proxy"),
  distDir: process.env.TRYON_DIST_DIR || path.join(repoRoot, "target/dist"),
  artifactsDir: process.env.TRYON_ARTIFACTS_DIR || path.join(repoRoot, "target/e2e-artifacts"),
  chromium: process.env.TRYON_CHROMIUM || "/usr/bin/chromium",
};

/** The flags the team brief requires for every Chromium the tests start. */
export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Writes a test artifact under target/e2e-artifacts and returns its path. */
export async function saveArtifact(name, bytes) {
  await mkdir(paths.artifactsDir, { recursive: true });
  const file = path.join(paths.artifactsDir, name);
  await writeFile(file, bytes);
  return file;
}

function require(condition, message) {
  if (!condition) throw new Error(message);
}

/** A free TCP port on 127.0.0.1 (asked of the kernel, then released for the proxy to take). */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** The environment without any proxy configuration of the developer's shell, so tests are
 * deterministic: no TRYON_* settings, no provider keys or base URLs. */
function cleanEnvironment(extra) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^TRYON_|_API_KEY$|_BASE_URL$|^SHOPIFY_|^RUST_LOG$/.test(key)) continue;
    env[key] = value;
  }
  return { ...env, RUST_LOG: "info", ...extra };
}

/**
 * Starts the proxy binary with the demo storefront and the built widget on a free loopback
 * port and resolves once `/healthz` answers 200. Its stderr (JSON log lines) is kept for
 * assertions and for failure messages. Each proxy gets a fresh data directory (removed on
 * stop), so no test inherits another's tasks or spent rate-limit buckets.
 */
export async function startProxy({ localDurationMs = 3000, args = [], env = {} } = {}) {
  require(
    existsSync(paths.proxyBin),
    `proxy binary not found at ${paths.proxyBin}: run \`cargo build -p tryon-proxy\` (cargo xtask test does)`,
  );
  require(
    existsSync(path.join(paths.distDir, "widget.js")),
    `no built widget in ${paths.distDir}: run \`cargo xtask dist\` (cargo xtask test does)`,
  );
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  const dataDir = args.includes("--data-dir") ? null : await mkdtemp(path.join(tmpdir(), "tryon-e2e-data-"));
  const argv = [
    ...(dataDir ? ["--data-dir", dataDir] : []),
    "--listen", `127.0.0.1:${port}`,
    "--demo",
    "--assets-dir", paths.distDir,
    "--www-dir", path.join(repoRoot, "www"),
    "--local-duration-ms", String(localDurationMs),
    ...args,
  ];
  const child = spawn(paths.proxyBin, argv, {
    cwd: repoRoot,
    env: cleanEnvironment(env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  const proxy = new Proxy(child, url, argv, dataDir);
  await proxy.waitHealthy(20_000);
  return proxy;
}

class Proxy {
  constructor(child, url, argv, dataDir) {
    this.child = child;
    this.dataDir = dataDir;
    this.url = url;
    this.argv = argv;
    this.stderr = "";
    this.exit = null;
    child.stdout.resume();
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk) => (this.stderr += chunk));
    this.exited = new Promise((resolve) =>
      child.on("exit", (code, signal) => resolve((this.exit = { code, signal }))),
    );
  }

  async waitHealthy(timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.exit) {
        throw new Error(`the proxy exited (${JSON.stringify(this.exit)}) before it was healthy\n${this.describe()}`);
      }
      try {
        const response = await fetch(new URL("/healthz", this.url), { signal: AbortSignal.timeout(1000) });
        if (response.status === 200) return;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`the proxy did not answer GET /healthz with 200 within ${timeoutMs} ms\n${this.describe()}`);
  }

  /** Every JSON log line so far, parsed (lines that are not JSON are skipped). */
  logs() {
    return this.stderr
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .flatMap((line) => {
        try {
          const entry = JSON.parse(line);
          // tracing's JSON layer nests the event's fields unless it flattens them.
          return [{ ...entry, ...(entry.fields || {}) }];
        } catch {
          return [];
        }
      });
  }

  /** Log lines whose message is `message`. */
  logsWith(message) {
    return this.logs().filter((entry) => entry.message === message);
  }

  /** The last lines of the proxy's stderr and its command line, for failure messages. */
  describe(lines = 40) {
    const tail = this.stderr.trimEnd().split("\n").slice(-lines).join("\n");
    return `proxy: ${paths.proxyBin} ${this.argv.join(" ")}\nproxy stderr (last ${lines} lines):\n${tail || "(empty)"}`;
  }

  async stop() {
    if (!this.exit) {
      this.child.kill("SIGTERM");
      const timer = setTimeout(() => this.child.kill("SIGKILL"), 5000);
      await this.exited;
      clearTimeout(timer);
    }
    if (this.dataDir) await rm(this.dataDir, { recursive: true, force: true });
    return this.exit;
  }
}

/**
 * Debian's Chromium with the required flags and a fresh profile directory, removed on close.
 * Page errors and console errors are collected so a failing test can show them.
 * `device` is passed to the context as is: `{ hasTouch, isMobile, deviceScaleFactor }` for a phone.
 */
export async function launchBrowser({ viewport = { width: 1280, height: 900 }, ignoreHTTPSErrors = false, device = {} } = {}) {
  require(
    existsSync(paths.chromium),
    `Chromium not found at ${paths.chromium}: install Debian's chromium (cargo xtask test does)`,
  );
  const profile = await mkdtemp(path.join(tmpdir(), "tryon-e2e-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: paths.chromium,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport,
    // For test servers with a throwaway self-signed certificate (an https storefront).
    ignoreHTTPSErrors,
    ...device,
  });
  const page = context.pages()[0] || (await context.newPage());
  const problems = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    // Browsers ask every origin for a favicon; its 404 is not the widget's problem.
    if (message.type() === "error" && !message.location().url.endsWith("/favicon.ico")) {
      problems.push(`console error: ${message.text()} (${message.location().url})`);
    }
  });
  return {
    context,
    page,
    problems,
    async close() {
      await context.close().catch(() => {});
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** Splits a multipart/form-data body into its parts: `{ name, filename, contentType, body }`. */
export function parseMultipart(body, contentTypeHeader) {
  const match = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentTypeHeader || "");
  require(match, `not a multipart body: Content-Type is ${JSON.stringify(contentTypeHeader)}`);
  const delimiter = Buffer.from(`--${match[1] || match[2]}`);
  const parts = [];
  let start = body.indexOf(delimiter);
  require(start >= 0, "multipart body has no boundary line");
  for (;;) {
    start += delimiter.length;
    if (body.subarray(start, start + 2).toString() === "--") break; // closing delimiter
    start += 2; // CRLF after the delimiter
    const end = body.indexOf(delimiter, start);
    require(end >= 0, "multipart body ends without its closing boundary");
    const part = body.subarray(start, end - 2); // CRLF before the next delimiter
    const split = part.indexOf("\r\n\r\n");
    const headers = part.subarray(0, split).toString("utf8");
    const disposition = /content-disposition:[^\r\n]*/i.exec(headers)?.[0] || "";
    parts.push({
      name: /\bname="([^"]*)"/.exec(disposition)?.[1],
      filename: /\bfilename="([^"]*)"/.exec(disposition)?.[1],
      contentType: /content-type:\s*([^\r\n]+)/i.exec(headers)?.[1]?.trim(),
      body: part.subarray(split + 4),
    });
    start = end;
  }
  return parts;
}

/**
 * The segments of a JPEG up to its first scan: `{ segments: [{ marker, length }], width, height }`
 * where marker is e.g. 0xe1 for APP1, and width/height come from the frame header (SOFn).
 */
export function readJpeg(bytes) {
  require(bytes[0] === 0xff && bytes[1] === 0xd8, "not a JPEG: it does not start with SOI (FF D8)");
  const segments = [];
  let width;
  let height;
  let at = 2;
  while (at + 4 <= bytes.length) {
    require(bytes[at] === 0xff, `JPEG segment expected at byte ${at}`);
    const marker = bytes[at + 1];
    if (marker === 0xff) {
      at += 1; // fill byte
      continue;
    }
    const length = bytes.readUInt16BE(at + 2);
    segments.push({ marker, length });
    const isFrame = marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker);
    if (isFrame) {
      height = bytes.readUInt16BE(at + 5);
      width = bytes.readUInt16BE(at + 7);
    }
    if (marker === 0xda) break; // start of scan: the header is over
    at += 2 + length;
  }
  return { segments, width, height };
}

/** An APP1 Exif segment holding only an Orientation tag (big-endian TIFF). */
export function exifOrientationSegment(orientation) {
  const tiff = Buffer.alloc(26);
  tiff.write("MM", 0, "latin1");
  tiff.writeUInt16BE(42, 2);
  tiff.writeUInt32BE(8, 4); // IFD0 right after the header
  tiff.writeUInt16BE(1, 8); // one entry
  tiff.writeUInt16BE(0x0112, 10); // Orientation
  tiff.writeUInt16BE(3, 12); // SHORT
  tiff.writeUInt32BE(1, 14); // one value
  tiff.writeUInt16BE(orientation, 18); // value, left-aligned in the 4-byte field
  tiff.writeUInt32BE(0, 22); // no next IFD
  const payload = Buffer.concat([Buffer.from("Exif\0\0", "latin1"), tiff]);
  const header = Buffer.alloc(4);
  header.writeUInt16BE(0xffe1, 0);
  header.writeUInt16BE(payload.length + 2, 2);
  return Buffer.concat([header, payload]);
}

/** The JPEG with an EXIF orientation segment spliced in right after SOI, as cameras write it. */
export function withExifOrientation(jpeg, orientation) {
  readJpeg(jpeg); // fails clearly on anything that is not a JPEG
  return Buffer.concat([jpeg.subarray(0, 2), exifOrientationSegment(orientation), jpeg.subarray(2)]);
}

/** Polls `probe` until it returns a truthy value; fails with `describe()` after `timeoutMs`. */
export async function waitFor(probe, { timeoutMs, intervalMs = 100, describe }) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${await describe()}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
