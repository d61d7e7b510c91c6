//! Multipart uploads (`POST /v1/photos`, `POST /v1/tryons`) with real upload progress.
//!
//! `fetch` cannot report how many bytes of a request body have left the device;
//! `XMLHttpRequest.upload` can, so the bar during "Uploading 42%" is bytes sent over total.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Function, Promise};
use tryon_proxy::wire::headers;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{FormData, ProgressEvent, XmlHttpRequest};

use super::ProxyClient;
use crate::dom::EventListener;
use crate::state::Failure;

/// How an upload ended: the body of a 2xx answer, or the failure.
type Outcome = Result<String, Failure>;

/// An upload in flight; aborted if dropped before the proxy answered.
pub struct Upload {
    xhr: XmlHttpRequest,
    settled: Rc<Cell<bool>>,
    /// Wakes [`Answer`] when the upload is dropped unanswered.
    wake: Function,
    _listeners: [EventListener; 5],
}

/// The answer to an [`Upload`]; `Err(UploadFailed)` if the upload was dropped first.
pub struct Answer {
    woken: Promise,
    outcome: Rc<RefCell<Option<Outcome>>>,
}

impl Answer {
    pub async fn get(self) -> Outcome {
        let _ = wasm_bindgen_futures::JsFuture::from(self.woken).await;
        self.outcome
            .borrow_mut()
            .take()
            .unwrap_or(Err(Failure::UploadFailed))
    }
}

impl Upload {
    /// Sends `form` to `path` with `idempotency_key`. `on_progress(sent, total)` follows the
    /// body's bytes.
    pub fn start(
        client: &ProxyClient,
        path: &str,
        form: &FormData,
        idempotency_key: &str,
        on_progress: impl Fn(u64, u64) + 'static,
    ) -> Result<(Self, Answer), Failure> {
        let xhr = XmlHttpRequest::new().map_err(|_| Failure::UploadFailed)?;
        xhr.open("POST", &client.url(path))
            .map_err(|_| Failure::UploadFailed)?;
        xhr.set_request_header(headers::IDEMPOTENCY_KEY, idempotency_key)
            .map_err(|_| Failure::UploadFailed)?;
        let upload = xhr.upload().map_err(|_| Failure::UploadFailed)?;

        let mut wake = None;
        let woken = Promise::new(&mut |resolve, _| wake = Some(resolve));
        let wake = wake.ok_or(Failure::UploadFailed)?;
        let outcome: Rc<RefCell<Option<Outcome>>> = Rc::default();
        let settled = Rc::new(Cell::new(false));
        let bytes_left = Rc::new(Cell::new(false));
        let finish = {
            let (settled, outcome, wake) = (Rc::clone(&settled), Rc::clone(&outcome), wake.clone());
            move |answer: Outcome| {
                if settled.replace(true) {
                    return;
                }
                *outcome.borrow_mut() = Some(answer);
                let _ = wake.call0(&JsValue::NULL);
            }
        };
        let finish = Rc::new(finish);

        let progress = EventListener::new(&upload, "progress", {
            let bytes_left = Rc::clone(&bytes_left);
            move |event| {
                if let Some(event) = event.dyn_ref::<ProgressEvent>() {
                    bytes_left.set(event.loaded() > 0.0);
                    if event.length_computable() {
                        on_progress(event.loaded() as u64, event.total() as u64);
                    }
                }
            }
        });
        let load = EventListener::new(&xhr, "load", {
            let xhr = xhr.clone();
            let finish = Rc::clone(&finish);
            move |_| finish(read_answer(&xhr))
        });
        // No answer at all: if bytes had started to leave, the connection broke mid-upload;
        // otherwise the proxy was never reached.
        let error = EventListener::new(&xhr, "error", {
            let finish = Rc::clone(&finish);
            move |_| {
                finish(Err(if bytes_left.get() {
                    Failure::UploadFailed
                } else {
                    Failure::Network
                }))
            }
        });
        let abort = EventListener::new(&xhr, "abort", {
            let finish = Rc::clone(&finish);
            move |_| finish(Err(Failure::UploadFailed))
        });
        let timeout =
            EventListener::new(&xhr, "timeout", move |_| finish(Err(Failure::UploadFailed)));

        xhr.send_with_opt_form_data(Some(form))
            .map_err(|_| Failure::UploadFailed)?;
        let upload = Self {
            xhr,
            settled,
            wake,
            _listeners: [progress, load, error, abort, timeout],
        };
        Ok((upload, Answer { woken, outcome }))
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        // Settled first, so the synchronous `abort` event does not report a failure nobody wants.
        if !self.settled.replace(true) {
            let _ = self.xhr.abort();
        }
        // The answer's waiter resumes later (a promise), never inside this drop.
        let _ = self.wake.call0(&JsValue::NULL);
    }
}

fn read_answer(xhr: &XmlHttpRequest) -> Outcome {
    let status = xhr.status().unwrap_or(0);
    let body = xhr.response_text().ok().flatten().unwrap_or_default();
    if (200..300).contains(&status) {
        Ok(body)
    } else {
        Err(super::failure_of_answer(status, &body))
    }
}
