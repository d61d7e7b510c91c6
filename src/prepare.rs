//! The bridge to the photo-preparation worker (`www/prepare-worker.js` + the `tryon-photo` wasm).
//!
//! Decoding and resizing a 12 MP photo takes long enough to freeze a phone's page, so it runs in
//! a module Web Worker, and the photo wasm (much larger than the UI's) is fetched by that worker
//! only when the dialog opens. A page cannot start a worker from another origin's URL, and the
//! widget is served from the proxy's origin, so the worker is started from a same-origin `blob:`
//! module whose only job is to `import()` the real script (allowed cross-origin with CORS).
//!
//! Protocol (all messages are plain objects; byte buffers are transferred, never copied):
//! - worker → page `{kind: "ready"}` once the real script has loaded, or `{kind: "fatal"}`;
//! - page → worker `{kind: "warm"}`: start fetching the photo wasm now;
//! - page → worker `{kind: "prepare", id, bytes: ArrayBuffer, maxEdge, quality}`;
//! - worker → page `{kind: "prepared", id, ok: true, jpeg: ArrayBuffer, width, height}` or
//!   `{kind: "prepared", id, ok: false, error: "invalid_image" | "unsupported_type" | …}`.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, ArrayBuffer, Function, Object, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, BlobPropertyBag, MessageEvent, Worker, WorkerOptions, WorkerType};

use tryon_proxy::wire::Limits;

use crate::dom::{self, EventListener, ObjectUrl};
use crate::state::{Failure, PhotoFacts};

/// The highest JPEG quality the worker may choose: it picks the lowest quality that keeps the
/// photo's look (an SSIM target in `tryon-photo`), and never spends more than this.
pub const JPEG_QUALITY: u8 = 90;

/// What the worker is asked to make of a picked photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrepareRequest {
    /// Long edge in pixels: what the proxy's `/v1/config` says the provider processes, so no
    /// byte crosses the shopper's uplink that the vendor would throw away.
    pub max_edge: u32,
    pub max_quality: u8,
}

impl PrepareRequest {
    /// A person photo, for the proxy whose limits are `limits`.
    pub fn person(limits: &Limits) -> Self {
        Self {
            max_edge: limits.person_max_edge,
            max_quality: JPEG_QUALITY,
        }
    }
}

/// A prepared photo: the JPEG that will be uploaded and what it is.
pub struct PreparedPhoto {
    pub jpeg: Blob,
    pub facts: PhotoFacts,
}

/// The running worker; terminated on drop.
pub struct PhotoWorker {
    worker: Worker,
    shared: Rc<RefCell<Shared>>,
    _listeners: [EventListener; 2],
}

#[derive(Default)]
struct Shared {
    ready: bool,
    broken: bool,
    next_id: u32,
    /// The trampoline's `blob:` URL, revoked once the worker has loaded from it.
    trampoline: Option<ObjectUrl>,
    /// `resolve` functions of requests waiting for an answer, with their request id (a
    /// handful at most, so a list: a `HashMap` here cost about 1 KB of gzipped wasm).
    pending: Vec<(u32, Function)>,
    /// Requests made before the worker was ready: message and transfer list.
    waiting: Vec<(Object, Array)>,
}

impl Shared {
    /// The `resolve` of request `id`, no longer pending.
    fn take_pending(&mut self, id: u32) -> Option<Function> {
        let index = self
            .pending
            .iter()
            .position(|(pending, _)| *pending == id)?;
        Some(self.pending.swap_remove(index).1)
    }
}

impl PhotoWorker {
    /// Starts the worker from `script_url` (absolute, possibly on another origin).
    pub fn start(script_url: &str) -> Result<Self, Failure> {
        let trampoline = trampoline(script_url).ok_or(Failure::PreparerUnavailable)?;
        let options = WorkerOptions::new();
        options.set_type(WorkerType::Module);
        let worker = Worker::new_with_options(trampoline.as_str(), &options)
            .map_err(|_| Failure::PreparerUnavailable)?;
        let shared = Rc::new(RefCell::new(Shared {
            trampoline: Some(trampoline),
            ..Shared::default()
        }));
        let on_message = EventListener::new(&worker, "message", {
            let shared = Rc::clone(&shared);
            let worker = worker.clone();
            move |event| {
                if let Some(event) = event.dyn_ref::<MessageEvent>() {
                    receive(&shared, &worker, event.data());
                }
            }
        });
        // A worker whose script cannot even be parsed reports on the Worker object, not by message.
        let on_error = EventListener::new(&worker, "error", {
            let shared = Rc::clone(&shared);
            move |_| give_up(&shared)
        });
        Ok(Self {
            worker,
            shared,
            _listeners: [on_message, on_error],
        })
    }

    /// Prepares `bytes` (the picked file, moved to the worker) as `request` says.
    pub async fn prepare(
        &self,
        bytes: ArrayBuffer,
        request: PrepareRequest,
    ) -> Result<PreparedPhoto, Failure> {
        let answer = {
            let mut shared = self.shared.borrow_mut();
            if shared.broken {
                return Err(Failure::PreparerUnavailable);
            }
            shared.next_id += 1;
            let id = shared.next_id;
            let message = Object::new();
            set(&message, "kind", &"prepare".into());
            set(&message, "id", &id.into());
            set(&message, "bytes", &bytes);
            set(&message, "maxEdge", &request.max_edge.into());
            set(&message, "quality", &request.max_quality.into());
            let promise = Promise::new(&mut |resolve, _reject| {
                shared.pending.push((id, resolve));
            });
            let transfer = Array::of1(&bytes);
            if shared.ready {
                post(&self.worker, &message, &transfer, &mut shared);
            } else {
                shared.waiting.push((message, transfer));
            }
            promise
        };
        let answer = JsFuture::from(answer)
            .await
            .map_err(|_| Failure::PreparerUnavailable)?;
        read_answer(&answer)
    }
}

impl Drop for PhotoWorker {
    fn drop(&mut self) {
        self.worker.terminate();
        // Settle every waiting request so no future stays suspended forever.
        give_up(&self.shared);
    }
}

/// The same-origin module that loads the real worker script.
fn trampoline(script_url: &str) -> Option<ObjectUrl> {
    let url = String::from(js_sys::JSON::stringify(&script_url.into()).ok()?);
    let code = format!(
        "import({url}).then(()=>postMessage({{kind:'ready'}}),e=>postMessage({{kind:'fatal',error:String(e)}}))"
    );
    let options = BlobPropertyBag::new();
    options.set_type("text/javascript");
    let blob = Blob::new_with_str_sequence_and_options(&Array::of1(&code.into()), &options).ok()?;
    ObjectUrl::new(&blob)
}

fn receive(shared: &Rc<RefCell<Shared>>, worker: &Worker, data: JsValue) {
    match dom::string(&data, "kind").as_deref() {
        Some("ready") => {
            let mut shared = shared.borrow_mut();
            shared.ready = true;
            shared.trampoline = None;
            let warm = Object::new();
            set(&warm, "kind", &"warm".into());
            let _ = worker.post_message(&warm);
            for (message, transfer) in std::mem::take(&mut shared.waiting) {
                post(worker, &message, &transfer, &mut shared);
            }
        }
        Some("fatal") => give_up(shared),
        Some("prepared") => {
            let id = dom::number(&data, "id").map(|n| n as u32);
            let resolve = id.and_then(|id| shared.borrow_mut().take_pending(id));
            if let Some(resolve) = resolve {
                let _ = resolve.call1(&JsValue::NULL, &data);
            }
        }
        _ => {}
    }
}

fn post(worker: &Worker, message: &Object, transfer: &Array, shared: &mut Shared) {
    if worker
        .post_message_with_transfer(message, transfer)
        .is_err()
    {
        let id = dom::number(message, "id").map(|n| n as u32);
        if let Some(resolve) = id.and_then(|id| shared.take_pending(id)) {
            let _ = resolve.call1(&JsValue::NULL, &failed_answer());
        }
    }
}

/// Marks the worker unusable and answers every waiting request with a failure.
fn give_up(shared: &Rc<RefCell<Shared>>) {
    let pending: Vec<Function> = {
        let mut shared = shared.borrow_mut();
        shared.broken = true;
        shared.trampoline = None;
        shared.waiting.clear();
        shared
            .pending
            .drain(..)
            .map(|(_, resolve)| resolve)
            .collect()
    };
    let answer = failed_answer();
    for resolve in pending {
        let _ = resolve.call1(&JsValue::NULL, &answer);
    }
}

fn failed_answer() -> JsValue {
    let answer = Object::new();
    set(&answer, "ok", &false.into());
    set(&answer, "error", &"preparer_unavailable".into());
    answer.into()
}

fn read_answer(answer: &JsValue) -> Result<PreparedPhoto, Failure> {
    if Reflect::get(answer, &"ok".into())
        .ok()
        .and_then(|ok| ok.as_bool())
        != Some(true)
    {
        let name = dom::string(answer, "error").unwrap_or_default();
        return Err(Failure::from_worker(&name));
    }
    let jpeg: ArrayBuffer = dom::field(answer, "jpeg").ok_or(Failure::PreparerUnavailable)?;
    let dimension = |name| {
        dom::number(answer, name)
            .map(|n| n as u32)
            .ok_or(Failure::PreparerUnavailable)
    };
    let facts = PhotoFacts {
        bytes: u64::from(jpeg.byte_length()),
        width: dimension("width")?,
        height: dimension("height")?,
    };
    let options = BlobPropertyBag::new();
    options.set_type(tryon_proxy::wire::media::JPEG);
    let jpeg = Blob::new_with_buffer_source_sequence_and_options(&Array::of1(&jpeg), &options)
        .map_err(|_| Failure::PreparerUnavailable)?;
    Ok(PreparedPhoto { jpeg, facts })
}

fn set(object: &Object, name: &str, value: &JsValue) {
    let _ = Reflect::set(object, &name.into(), value);
}

#[cfg(test)]
mod tests {
    use tryon_proxy::wire::ConfigResponse;

    use super::*;

    /// `/v1/config` as a proxy in front of `provider` answers it.
    fn config(provider: &str, person_max_edge: u32) -> ConfigResponse {
        serde_json::from_value(serde_json::json!({
            "provider": provider,
            "categories": ["upper"],
            "qualities": ["fast"],
            "checks": {"person": true, "garment": true},
            "limits": {
                "max_upload_bytes": 10_000_000,
                "person_max_edge": person_max_edge,
                "garment_max_edge": 1024,
                "accept": ["image/jpeg"],
            },
        }))
        .expect("the contract's shape")
    }

    #[test]
    fn the_worker_is_asked_for_the_long_edge_the_config_names() {
        for (provider, edge) in [("tryiton", 1296), ("fitroom", 2048), ("local", 1536)] {
            let request = PrepareRequest::person(&config(provider, edge).limits);
            assert_eq!(request.max_edge, edge, "{provider}");
            assert_eq!(request.max_quality, JPEG_QUALITY);
        }
    }

    #[test]
    fn without_a_config_the_worker_prepares_to_the_contracts_default() {
        assert_eq!(PrepareRequest::person(&Limits::default()).max_edge, 2048);
    }
}
