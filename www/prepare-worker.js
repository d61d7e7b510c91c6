/* Photo preparation worker (module worker). Started by the widget through a same-origin blob:
 * module that import()s this file, so `import.meta.url` is this file's real URL and the
 * placeholders below (replaced by `cargo xtask dist` with the hashed names of the `tryon-photo`
 * glue and wasm) resolve next to it. The photo wasm is fetched on the first "warm" or "prepare"
 * message, not before: the page never downloads it unless the shopper opened the dialog.
 *
 * The browser decodes (its decoder is native and SIMD, applies the colour profile, and reads
 * formats such as HEIC on Safari) and copies the pixels straight into the wasm module's memory;
 * the module judges the header first, so a decompression bomb never reaches the browser's
 * decoder, then does the Lanczos3 resize, the EXIF orientation where the browser left it, and
 * the metadata-free JPEG encode. A large JPEG is decoded at a reduced scale (ImageDecoder),
 * which costs a fraction of a full-size decode; the rest goes through createImageBitmap.
 *
 * Messages: {kind:"warm"}; {kind:"prepare", id, bytes: ArrayBuffer, maxEdge, quality} answered
 * by {kind:"prepared", id, ok:true, jpeg: ArrayBuffer, width, height, sourceWidth, sourceHeight,
 * decodedWidth, decodedHeight (what wasm resized from), timings: {decodeMs, copyMs, resizeMs,
 * encodeMs}} or {kind:"prepared", id, ok:false, error}. Buffers are
 * transferred both ways, never copied. */
const CODES = ["invalid_image", "unsupported_type", "image_too_large"];
let photo; // promise of the initialised photo module: {m, memory}

const init = () =>
  (photo ||= import(new URL("__PHOTO_JS__", import.meta.url).href)
    .then(async (m) => {
      const wasm = await m.default({ module_or_path: new URL("__PHOTO_WASM__", import.meta.url).href });
      return { m, memory: wasm.memory };
    })
    .catch((e) => {
      photo = null; // the next request tries again
      throw Object.assign(new Error("preparer_unavailable"), { cause: e });
    }));

// A buffer that holds exactly these bytes, so it can be transferred without copying the view.
const own = (view) =>
  view.byteOffset === 0 && view.byteLength === view.buffer.byteLength ? view.buffer : view.slice().buffer;

const fail = (code) => new Error(code);

// The layouts a VideoFrame copies out without a conversion pass.
const RGB_FORMATS = ["RGBA", "RGBX", "BGRA", "BGRX"];

/* The header's verdict: null for a format the header reader does not know (which this browser
 * may still decode); throws the error code for a refused JPEG, PNG or WebP. */
function inspect(m, bytes) {
  try {
    const header = m.inspect(bytes);
    const verdict = { width: header.width, height: header.height, asStored: header.as_stored, jpeg: header.jpeg };
    header.free();
    return verdict;
  } catch (e) {
    if (e.message === "unsupported_type") return null;
    throw e;
  }
}

/* `bitmap` drawn onto white (JPEG has no alpha) at `width`×`height`, which is its own size or
 * half of it: bilinear sampling at exactly half averages each 2×2 block, a proper box filter,
 * and costs far less than the "high" quality setting, which builds mipmaps first. */
function onWhite(bitmap, width, height) {
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext("2d", { alpha: false, willReadFrequently: true });
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, width, height);
  ctx.imageSmoothingQuality = "low";
  ctx.drawImage(bitmap, 0, 0, width, height);
  return canvas;
}

/* Copies `image` into `pixels`, in the wasm memory; resolves to whether the bytes are BGRA.
 * A VideoFrame copies in its own layout (BGRX on most platforms) with no conversion pass and no
 * 48 MB JS array in between; where WebCodecs is missing, getImageData does the same slower. */
async function copyPixels(image, memory, pixels) {
  const target = () => new Uint8Array(memory.buffer, pixels.offset, pixels.length);
  if (typeof VideoFrame === "function") {
    try {
      const frame = new VideoFrame(image, { timestamp: 0 });
      try {
        const native = RGB_FORMATS.includes(frame.format);
        await frame.copyTo(target(), native ? {} : { format: "RGBA" });
        return native && frame.format.startsWith("BGR");
      } finally {
        frame.close();
      }
    } catch {
      // An older WebCodecs without format conversion: fall back to the canvas.
    }
  }
  const canvas = image instanceof OffscreenCanvas ? image : onWhite(image, image.width, image.height);
  const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
  target().set(data);
  return false;
}

/* The picked file as pixels in the wasm memory, with what `prepare_pixels` needs to know about
 * them. A JPEG large enough to be decoded at a reduced scale goes to WebCodecs' ImageDecoder
 * (see `scaledJpeg`); everything else, and any JPEG that path cannot take, to createImageBitmap. */
async function decode(module, bytes, maxEdge, timings) {
  const header = inspect(module.m, bytes);
  const scaled = header && header.jpeg && (await scaledJpeg(module, bytes, header, maxEdge, timings));
  return scaled || (await decodeBitmap(module, bytes, header, maxEdge, timings));
}

/* A large JPEG decoded by the browser at a reduced scale: its decoder scales in the DCT domain
 * (1/8 steps), which skips most of the work of a full-size decode and never holds the
 * full-size pixels; Lanczos3 in wasm does the rest of the reduction. The pixels stay as
 * stored: the frame's rotation and flip carry the EXIF orientation, which wasm applies after
 * resizing. Resolves to null (the caller decodes the usual way) where WebCodecs or frame
 * orientation is missing, the photo needs no reduction, or the decoder fails. */
async function scaledJpeg({ m, memory }, bytes, header, maxEdge, timings) {
  if (typeof ImageDecoder !== "function" || typeof VideoFrame !== "function") return null;
  if (!header.asStored && !("rotation" in VideoFrame.prototype)) return null;
  const size = m.jpeg_decode_size(header.width, header.height, maxEdge);
  if (!size) return null;
  const desired = { desiredWidth: size.width, desiredHeight: size.height };
  size.free();
  let decoder;
  let image;
  try {
    const started = performance.now();
    decoder = new ImageDecoder({ data: bytes, type: "image/jpeg", ...desired });
    ({ image } = await decoder.decode());
    timings.decodeMs = performance.now() - started;
    return await copyFrame(m, memory, image, header, timings);
  } catch {
    return null;
  } finally {
    image?.close();
    decoder?.close();
  }
}

/* Copies a decoded frame, as stored, into a new PixelBuffer. */
async function copyFrame(m, memory, image, header, timings) {
  const started = performance.now();
  const { width, height } = image.visibleRect;
  const pixels = new m.PixelBuffer(width, height);
  try {
    const target = new Uint8Array(memory.buffer, pixels.offset, pixels.length);
    // Converted (to sRGB, four bytes) only where the decoder did not already produce that.
    const srgb = image.colorSpace.primaries === "bt709" && image.colorSpace.transfer === "iec61966-2-1";
    const native = RGB_FORMATS.includes(image.format) && srgb;
    await image.copyTo(target, native ? {} : { format: "RGBX", colorSpace: "srgb" });
    timings.copyMs = performance.now() - started;
    const orientation = { rotation: image.rotation || 0, flip: Boolean(image.flip) };
    const source = { width: header.width, height: header.height };
    return { pixels, bgra: native && image.format.startsWith("BGR"), source, stored: source, orientation };
  } catch (e) {
    pixels.free();
    throw e;
  }
}

/* The picked file as upright pixels via createImageBitmap. When the photo is at least twice
 * the target, the browser first halves it while drawing, which is much cheaper than copying
 * and resizing four times the pixels in wasm; Lanczos3 does the rest. */
async function decodeBitmap({ m, memory }, bytes, header, maxEdge, timings) {
  const started = performance.now();
  let bitmap;
  try {
    bitmap = await createImageBitmap(new Blob([bytes]), { imageOrientation: "from-image" });
  } catch {
    throw fail(header ? "invalid_image" : "unsupported_type");
  }
  timings.decodeMs = performance.now() - started;
  try {
    const long = Math.max(bitmap.width, bitmap.height);
    const scale = long >= 2 * maxEdge ? 0.5 : 1;
    const width = Math.max(1, Math.round(bitmap.width * scale));
    const height = Math.max(1, Math.round(bitmap.height * scale));
    // Checks the decoded size too: a format the header reader does not know had no check yet.
    const pixels = new m.PixelBuffer(width, height);
    try {
      // A VideoFrame of the bitmap ignores the EXIF orientation the bitmap was decoded with
      // (Chromium 156), so only a JPEG shown as stored skips drawing; drawing applies it.
      const direct = header && header.asStored && scale === 1;
      const bgra = await copyPixels(direct ? bitmap : onWhite(bitmap, width, height), memory, pixels);
      timings.copyMs = performance.now() - started - timings.decodeMs;
      const upright = { width: bitmap.width, height: bitmap.height };
      return { pixels, bgra, source: header || upright, stored: upright, orientation: { rotation: 0, flip: false } };
    } catch (e) {
      pixels.free();
      throw e;
    }
  } finally {
    bitmap.close();
  }
}

async function prepare(module, { bytes, maxEdge, quality }) {
  const timings = {};
  const { pixels, bgra, source, stored, orientation } = await decode(module, new Uint8Array(bytes), maxEdge, timings);
  const decoded = { decodedWidth: pixels.width, decodedHeight: pixels.height };
  const { rotation, flip } = orientation;
  const prepared = module.m.prepare_pixels(pixels, bgra, stored.width, stored.height, rotation, flip, maxEdge, quality);
  const jpeg = own(prepared.jpeg);
  timings.resizeMs = prepared.resize_ms;
  timings.qualityMs = prepared.quality_ms;
  timings.encodeMs = prepared.encode_ms;
  const answer = {
    jpeg,
    width: prepared.width,
    height: prepared.height,
    quality: prepared.quality,
    sourceWidth: source.width,
    sourceHeight: source.height,
    ...decoded,
    timings,
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
