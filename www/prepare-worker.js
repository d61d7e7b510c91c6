/* Photo preparation worker (module worker). Started by the widget through a same-origin blob:
 * module that import()s this file, so `import.meta.url` is this file's real URL and the
 * placeholders below (replaced by `cargo xtask dist` with the hashed names of the `tryon-photo`
 * glue and wasm) resolve next to it. The photo wasm is fetched on the first "warm" or "prepare"
 * message, not before: the page never downloads it unless the shopper opened the dialog.
 *
 * Messages: {kind:"warm"}; {kind:"prepare", id, bytes: ArrayBuffer, maxEdge, quality} answered
 * by {kind:"prepared", id, ok:true, jpeg: ArrayBuffer, width, height, sourceWidth, sourceHeight}
 * or {kind:"prepared", id, ok:false, error}. Buffers are transferred both ways, never copied. */
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

self.addEventListener("message", async ({ data }) => {
  if (data.kind === "warm") return void init().catch(() => {});
  if (data.kind !== "prepare") return;
  const { id } = data;
  try {
    const m = await init();
    const prepared = m.prepare_photo(new Uint8Array(data.bytes), data.maxEdge, data.quality);
    const jpeg = own(prepared.jpeg);
    const answer = {
      kind: "prepared",
      id,
      ok: true,
      jpeg,
      width: prepared.width,
      height: prepared.height,
      sourceWidth: prepared.source_width,
      sourceHeight: prepared.source_height,
    };
    if (typeof prepared.free === "function") prepared.free();
    self.postMessage(answer, [jpeg]);
  } catch (e) {
    const message = String((e && e.message) || e);
    // A wasm trap leaves the instance unusable: start a fresh one for the next photo.
    if (!CODES.includes(message)) photo = null;
    self.postMessage({ kind: "prepared", id, ok: false, error: CODES.includes(message) ? message : "preparer_unavailable" });
  }
});
