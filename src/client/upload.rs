//! `POST /v1/tryons` with real upload progress.
//!
//! `fetch` cannot report how many bytes of a request body have left the device;
//! `XMLHttpRequest.upload` can, so the bar during "Uploading 42%" is bytes sent over total.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use tryon_proxy::wire::{CreatedTryOn, headers, paths};
use wasm_bindgen::JsCast;
use web_sys::{FormData, ProgressEvent, XmlHttpRequest};

use super::ProxyClient;
use crate::dom::EventListener;
use crate::state::Failure;

type DoneCallback = Box<dyn FnOnce(Result<CreatedTryOn, Failure>)>;

/// An upload in flight; aborted if dropped before the proxy answered.
pub struct Upload {
    xhr: XmlHttpRequest,
    settled: Rc<Cell<bool>>,
    _listeners: [EventListener; 5],
}

impl Upload {
    /// Sends `form` with `idempotency_key`. `on_progress(sent, total)` follows the body's bytes;
    /// `on_done` is called once with the created task or the failure, never after a drop.
    pub fn start(
        client: &ProxyClient,
        form: &FormData,
        idempotency_key: &str,
        on_progress: impl Fn(u64, u64) + 'static,
        on_done: impl FnOnce(Result<CreatedTryOn, Failure>) + 'static,
    ) -> Result<Self, Failure> {
        let xhr = XmlHttpRequest::new().map_err(|_| Failure::UploadFailed)?;
        xhr.open("POST", &client.url(paths::TRYONS))
            .map_err(|_| Failure::UploadFailed)?;
        xhr.set_request_header(headers::IDEMPOTENCY_KEY, idempotency_key)
            .map_err(|_| Failure::UploadFailed)?;
        let upload = xhr.upload().map_err(|_| Failure::UploadFailed)?;

        let settled = Rc::new(Cell::new(false));
        let bytes_left = Rc::new(Cell::new(false));
        let on_done: Rc<RefCell<Option<DoneCallback>>> =
            Rc::new(RefCell::new(Some(Box::new(on_done))));
        let finish = {
            let settled = Rc::clone(&settled);
            move |outcome: Result<CreatedTryOn, Failure>| {
                if settled.replace(true) {
                    return;
                }
                if let Some(done) = on_done.borrow_mut().take() {
                    done(outcome);
                }
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
            move |_| finish(read_created(&xhr))
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
        Ok(Self {
            xhr,
            settled,
            _listeners: [progress, load, error, abort, timeout],
        })
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        // Settled first, so the synchronous `abort` event does not report a failure nobody wants.
        if !self.settled.replace(true) {
            let _ = self.xhr.abort();
        }
    }
}

fn read_created(xhr: &XmlHttpRequest) -> Result<CreatedTryOn, Failure> {
    let status = xhr.status().unwrap_or(0);
    let body = xhr.response_text().ok().flatten().unwrap_or_default();
    if (200..300).contains(&status) {
        super::json::parse(&body).map_err(|_| Failure::UnexpectedAnswer)
    } else {
        Err(super::failure_of_answer(status, &body))
    }
}
