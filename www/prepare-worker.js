/* Photo preparation worker (module worker). Started by the widget through a same-origin blob:
 * module that import()s this file, so `import.meta.url` is this file's real URL and the
 * placeholders below (replaced by `cargo xtask dist` with the hashed names of the `tryon-photo`
 * glue and wasm) resolve next to it. The photo wasm is fetched on the first "warm" or "prepare"
 * message, not before: the page never downloads it unless the shopper opened the dialog.
 *
 * The browser decodes (its decoder is native and SIMD, applies the EXIF orientation and the
 * colour profile, and reads formats such as HEIC on Safari); the wasm module judges the header
 * first, so a decompression bomb never reaches the browser's decoder, then does the Lanczos3
 * resize and the metadata-free JPEG encode.
 *
 * Messages: {kind:"warm"}; {kind:"prepare", id, bytes: ArrayBuffer, maxEdge, quality} answered
 * by {kind:"prepared", id, ok:true, jpeg: ArrayBuffer, width, height, sourceWidth, sourceHeight,
 * timings: {decodeMs, resizeEncodeMs}} or {kind:"prepared", id, ok:false, error}. Buffers are
 * transferred both ways, never copied. */
const CODES = ["invalid_image", "unsupported_type", "image_too_large"];
let photo; // promise of the initialised photo module

const init = () =>
  (photo ||= import(new URL("__PHOTO_JS__", import.meta.url).href)
    .then(async (m) => (await m.default({ module_or_path: new URL("__PHOTO_WASM__", import.meta.url).href }), m))
    .catch((e) => {
      photo = null; // the next request tries again
      throw Object.assign(new Error("preparer_unavailable"), { cause: e });
    }));

// A buffer that holds exactly these bytes, so it can be transferred without copying the view.
const own = (view) =>
  view.byteOffset === 0 && view.byteLength === view.buffer.byteLength ? view.buffer : view.slice().buffer;

const fail = (code) => new Error(code);

/* The picked file as upright RGBA pixels on white. The browser also takes a first downscale
 * step when the photo is more than twice the target (a 48 MP photo), which its decoder does far
 * faster than wasm; the final Lanczos3 step from at most twice the target keeps the quality. */
async function decode(m, bytes, maxEdge) {
  let stored = null; // the header's size, for JPEG, PNG and WebP
  try {
    const size = m.inspect(bytes);
    stored = { width: size.width, height: size.height };
    size.free();
  } catch (e) {
    // Formats the header reader does not know may still be ones this browser decodes.
    if (e.message !== "unsupported_type") throw e;
  }
  let bitmap;
  try {
    bitmap = await createImageBitmap(new Blob([bytes]), { imageOrientation: "from-image" });
  } catch {
    throw fail(stored ? "invalid_image" : "unsupported_type");
  }
  try {
    if (!stored) m.check_dimensions(bitmap.width, bitmap.height);
    const long = Math.max(bitmap.width, bitmap.height);
    const scale = long > 2 * maxEdge ? (2 * maxEdge) / long : 1;
    const width = Math.max(1, Math.round(bitmap.width * scale));
    const height = Math.max(1, Math.round(bitmap.height * scale));
    const canvas = new OffscreenCanvas(width, height);
    const ctx = canvas.getContext("2d", { alpha: false, willReadFrequently: true });
    ctx.fillStyle = "#fff"; // JPEG has no alpha: transparent areas become white
    ctx.fillRect(0, 0, width, height);
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(bitmap, 0, 0, width, height);
    const source = stored || { width: bitmap.width, height: bitmap.height };
    return { rgba: ctx.getImageData(0, 0, width, height).data, width, height, source };
  } finally {
    bitmap.close();
  }
}

async function prepare(m, { bytes, maxEdge, quality }) {
  const started = performance.now();
  const pixels = await decode(m, new Uint8Array(bytes), maxEdge);
  const decoded = performance.now();
  const prepared = m.prepare_rgba(pixels.rgba, pixels.width, pixels.height, maxEdge, quality);
  const jpeg = own(prepared.jpeg);
  const answer = {
    jpeg,
    width: prepared.width,
    height: prepared.height,
    sourceWidth: pixels.source.width,
    sourceHeight: pixels.source.height,
    timings: { decodeMs: decoded - started, resizeEncodeMs: performance.now() - decoded },
  };
  prepared.free();
  return answer;
}

self.addEventListener("message", async ({ data }) => {
  if (data.kind === "warm") return void init().catch(() => {});
  if (data.kind !== "prepare") return;
  const { id } = data;
  try {
    const answer = await prepare(await init(), data);
    self.postMessage({ kind: "prepared", id, ok: true, ...answer }, [answer.jpeg]);
  } catch (e) {
    const message = String((e && e.message) || e);
    // A wasm trap leaves the instance unusable: start a fresh one for the next photo.
    if (!CODES.includes(message)) photo = null;
    self.postMessage({ kind: "prepared", id, ok: false, error: CODES.includes(message) ? message : "preparer_unavailable" });
  }
});
