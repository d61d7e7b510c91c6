// Pieces the Shopify end-to-end tests of the widget share: a product page as the app block and
// app embed render it, the extension's built assets served as Shopify's CDN would, a shopper's
// photo drawn in the page, a throwaway TLS certificate for an https storefront, and a recording
// relay in front of the proxy's own origin (what `TRYON_PUBLIC_URL` points the browser at).

import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";

import { freePort, repoRoot, waitFor } from "./util.mjs";

export const EXTENSION_ASSETS = path.join(repoRoot, "www/shopify/assets");
const CONTENT_TYPES = { ".js": "text/javascript", ".wasm": "application/wasm", ".css": "text/css" };

/** Serves `/cdn/assets/<file>` from the extension's assets/ (filled by `cargo xtask dist`). */
export async function serveExtensionAsset(url, response) {
  const file = path.join(EXTENSION_ASSETS, path.basename(url.pathname));
  const body = await readFile(file).catch(() => null);
  if (!body) return response.writeHead(404).end();
  response.writeHead(200, { "content-type": CONTENT_TYPES[path.extname(file)] || "application/octet-stream" }).end(body);
}

/**
 * A product page with the app block's markup and the app embed's loader tag. `button` is extra
 * attribute text for the `<try-on-button>`; `head` goes into `<head>` (e.g. `window.Shopify`).
 */
export function productPage({ garment, button = "", head = "" }) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Linen shirt</title>${head}
    <script src="/cdn/assets/tryon-block.js" defer></script></head><body>
    <div class="shopify-section" id="shopify-section-main-product">
      <h1>Linen shirt</h1>
      <form method="post" action="/cart/add" id="product-form">
        <input type="hidden" name="id" value="111">
        <button type="submit" id="add-to-cart">Add to cart</button>
      </form>
      <div class="tryon-block" data-tryon-loader="/cdn/assets/widget.js">
        <try-on-button id="tryon-button-B1" garment="${garment}" category="upper" product="Linen shirt"
          label="Try it on" ${button}></try-on-button>
      </div>
    </div>
    <script src="/cdn/assets/widget.js" data-tryon-loader data-proxy="/apps/tryon" data-locale="en" async></script>
    </body></html>`;
}

/** A storefront `site` handler: the product page at /products/linen-shirt and the CDN assets. */
export function storefrontSite(page) {
  return async (request, response) => {
    const url = new URL(request.url, "http://storefront.invalid");
    if (url.pathname === "/products/linen-shirt") {
      response.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(page);
    } else if (url.pathname.startsWith("/cdn/assets/")) {
      await serveExtensionAsset(url, response);
    } else {
      response.writeHead(404).end();
    }
  };
}

/** A JPEG of a standing figure, `width` × `height`, drawn and encoded in the page. */
export async function drawPerson(page, { width, height }) {
  const bytes = await page.evaluate(async ({ w, h }) => {
    const canvas = new OffscreenCanvas(w, h);
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#e8ebef";
    ctx.fillRect(0, 0, w, h);
    // The figure fills the frame's height, centred, whatever the frame's shape.
    const s = Math.min(w, h * 0.66);
    const x0 = (w - s) / 2;
    ctx.fillStyle = "#c68d6b";
    ctx.beginPath();
    ctx.arc(x0 + s * 0.5, h * 0.22, s * 0.09, 0, 2 * Math.PI);
    ctx.fill();
    ctx.fillRect(x0 + s * 0.28, h * 0.32, s * 0.07, h * 0.3);
    ctx.fillRect(x0 + s * 0.65, h * 0.32, s * 0.07, h * 0.3);
    ctx.fillStyle = "#2e4a66";
    ctx.fillRect(x0 + s * 0.35, h * 0.3, s * 0.3, h * 0.33);
    ctx.fillStyle = "#303030";
    ctx.fillRect(x0 + s * 0.37, h * 0.63, s * 0.12, h * 0.32);
    ctx.fillRect(x0 + s * 0.51, h * 0.63, s * 0.12, h * 0.32);
    const blob = await canvas.convertToBlob({ type: "image/jpeg", quality: 0.92 });
    return [...new Uint8Array(await blob.arrayBuffer())];
  }, { w: width, h: height });
  return Buffer.from(bytes);
}

/** A self-signed certificate for 127.0.0.1, made with openssl for this run only. */
export async function throwawayCertificate() {
  const dir = await mkdtemp(path.join(tmpdir(), "tryon-e2e-tls-"));
  try {
    const [key, cert] = [path.join(dir, "key.pem"), path.join(dir, "cert.pem")];
    await promisify(execFile)("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
      "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert,
    ]);
    return { key: await readFile(key), cert: await readFile(cert) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * An HTTP relay on its own loopback port that records every request (`{ method, url, origin,
 * status }`) and passes it to `upstream` (streams included), or with `hold: true` accepts it and
 * never answers, like a firewall that swallows long-lived connections.
 */
export async function startRecordingRelay({ hold = false } = {}) {
  const seen = [];
  const held = new Set();
  let upstream = null;
  const server = createServer((request, response) => {
    const record = { method: request.method, url: request.url, origin: request.headers.origin, status: 0 };
    seen.push(record);
    if (hold) {
      held.add(response);
      return;
    }
    const target = new URL(upstream);
    const relayed = httpRequest(
      { host: target.hostname, port: target.port, method: request.method, path: request.url, headers: request.headers },
      (answer) => {
        record.status = answer.statusCode;
        response.writeHead(answer.statusCode, answer.headers);
        answer.pipe(response);
      },
    );
    relayed.on("error", () => response.destroy());
    request.pipe(relayed);
  });
  const port = await freePort();
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    /** Where requests go from now on (the proxy, once it runs). */
    forwardTo(url) {
      upstream = url;
    },
    close() {
      for (const response of held) response.destroy();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Waits for the result image or an error sentence in the first widget's dialog. */
export async function waitForOutcome(page, describe, timeoutMs = 60_000) {
  return waitFor(
    () =>
      page.evaluate(() => {
        const shadow = document.querySelector("try-on-button").shadowRoot;
        const result = shadow.querySelector("img[part=result]");
        if (result && result.complete && result.naturalWidth > 0) return { result: true };
        const error = shadow.querySelector("[data-role=error]");
        const text = error && !error.closest("[hidden]") ? error.textContent.trim() : "";
        return text ? { error: text } : null;
      }),
    { timeoutMs, describe: async () => `no result and no error in the dialog\n${describe()}` },
  );
}
