//! Drives one widget's try-on: turns clicks into worker, upload and watch calls, and their
//! answers into [`Flow`] transitions, page events and what the dialog shows.
//!
//! The components only read signals and call methods here; the browser resources of an
//! attempt (worker, upload, event stream, object URLs) live in one [`Session`] owned by the
//! reactive owner, so unmounting the widget drops — and so aborts, closes, revokes — all of them.

use std::rc::Rc;

use leptos::html::Dialog;
use leptos::prelude::*;
use tryon_proxy::wire::{
    CreatedTryOn, ErrorCode, Limits, ResultInfo, TryOnView, UploadedPhoto, fields, media, paths,
    query,
};
use wasm_bindgen::JsValue;
use web_sys::{File, FormData};

use crate::client::upload::Upload;
use crate::client::watch::{Callbacks, TaskWatch};
use crate::client::{ProxyClient, json};
use crate::dom::{self, ObjectUrl};
use crate::host::Host;
use crate::i18n::{Key, Locale};
use crate::photo_store;
use crate::prepare::{PhotoWorker, PrepareRequest};
use crate::state::{Failure, Flow, Milestone, PhotoFacts, Stale, Step, milestones};

/// One transition of the flow, as [`Controller::apply`] runs it.
type Transition<'a> = Box<dyn FnOnce(&mut Flow) -> Result<(), Stale> + 'a>;

/// What the loader tells the widget when mounting it.
pub struct MountOptions {
    /// The proxy's base URL when the element has no `proxy` attribute: the loader's origin.
    pub default_proxy: String,
    /// Absolute URL of `prepare-worker.js`.
    pub worker_url: String,
}

/// Handles to one widget's state; `Copy`, so every event handler can hold one.
#[derive(Clone, Copy)]
pub struct Controller {
    pub flow: RwSignal<Flow>,
    /// Object URL of the prepared photo, for the preview.
    pub preview: RwSignal<Option<String>>,
    /// Object URL of the result image.
    pub result: RwSignal<Option<String>>,
    /// Whether the browser can share the result as a file (Web Share API level 2).
    pub shareable: RwSignal<bool>,
    /// The shopper opted in to keeping her prepared photo on this device.
    pub remember: RwSignal<bool>,
    /// A one-off confirmation under the steps: the photo forgotten on this device, or deleted
    /// from the proxy (or that deleting failed).
    pub notice: RwSignal<Option<Key>>,
    pub dialog: NodeRef<Dialog>,
    pub locale: Locale,
    session: StoredValue<Session, LocalStorage>,
}

/// The browser resources of the current attempt. Dropping a field releases it.
struct Session {
    host: Host,
    options: MountOptions,
    worker: Option<Rc<PhotoWorker>>,
    limits: Option<Limits>,
    /// Whether the proxy offers `POST /v1/checks/person` (learnt with the limits).
    person_check: bool,
    /// How long the proxy keeps an uploaded photo (`photo_ttl_s`, learnt with the limits).
    photo_ttl_s: Option<u64>,
    /// The prepared JPEG (uploaded once, as is) and its preview URL.
    photo: Option<(web_sys::Blob, ObjectUrl)>,
    upload: Option<Upload>,
    watch: Option<TaskWatch>,
    result: Option<(web_sys::Blob, ObjectUrl)>,
    /// The garment of the last try-on, so reopening on another product does not show its result.
    garment_url: Option<String>,
    /// Whether this device's remembered photo has been looked for (once per page).
    looked_for_photo: bool,
    /// Bumped whenever an attempt is abandoned, so answers for it are recognised as late.
    generation: u32,
}

impl Controller {
    /// Must run inside the reactive owner of the widget's view.
    pub fn new(host: Host, options: MountOptions) -> Self {
        let locale = host.locale();
        let session = Session {
            host,
            options,
            worker: None,
            limits: None,
            person_check: false,
            photo_ttl_s: None,
            photo: None,
            upload: None,
            watch: None,
            result: None,
            garment_url: None,
            looked_for_photo: false,
            generation: 0,
        };
        Self {
            flow: RwSignal::new(Flow::default()),
            preview: RwSignal::new(None),
            result: RwSignal::new(None),
            shareable: RwSignal::new(false),
            remember: RwSignal::new(false),
            notice: RwSignal::new(None),
            dialog: NodeRef::new(),
            locale,
            session: StoredValue::new_local(session),
        }
    }

    /// Opens the dialog (the loader calls this for clicks, including one made before the wasm
    /// arrived). Starts the photo worker, and so the photo wasm download, while the shopper reads.
    pub fn open(self) {
        let Some(dialog) = self.dialog.get_untracked() else {
            return;
        };
        if dialog.open() {
            return;
        }
        self.follow_product();
        let _ = dialog.show_modal();
        self.emit("open", &[]);
        if self.design_mode() {
            // The theme editor: an example, and no worker, config or upload ever starts.
            self.show_example();
            return;
        }
        self.offer_remembered_photo();
        let _ = self.worker();
        crate::spawn(async move {
            let _ = self.limits().await;
        });
    }

    pub fn close(self) {
        if let Some(dialog) = self.dialog.get_untracked() {
            dialog.close();
        }
    }

    /// The dialog's `close` event (close button, Esc, or [`Self::close`]). A running try-on goes
    /// on; reopening shows where it is.
    pub fn on_closed(self) {
        self.emit("closed", &[]);
        if let Some(button) = self.host().and_then(|host| host.button()) {
            let _ = button.focus();
        }
    }

    /// A file was picked: prepare it in the worker and show the preview.
    pub fn choose(self, file: File) {
        if !self.apply(Flow::choose_photo) {
            return;
        }
        self.preview.set(None);
        let Some(generation) = self.abandon_attempt(true) else {
            return;
        };
        crate::spawn(async move {
            let prepared = self.prepare(file).await;
            if self.with_session(|s| s.generation) != Some(generation) {
                return;
            }
            match prepared {
                Ok(photo) => {
                    let Some(url) = ObjectUrl::new(&photo.jpeg) else {
                        self.apply(|f| f.fail(Failure::PreparerUnavailable));
                        return;
                    };
                    self.preview.set(Some(url.as_str().to_owned()));
                    if self.remember.get_untracked() {
                        self.keep_on_device(photo.jpeg.clone(), photo.facts);
                    }
                    self.with_session(|s| s.photo = Some((photo.jpeg, url)));
                    self.prepared(photo.facts);
                }
                Err(failure) => {
                    if failure == Failure::PreparerUnavailable {
                        self.with_session(|s| s.worker = None);
                    }
                    self.apply(|f| f.fail(failure));
                }
            }
        });
    }

    async fn prepare(self, file: File) -> Result<crate::prepare::PreparedPhoto, Failure> {
        let worker = self.worker()?;
        let limits = self.limits().await;
        let bytes = wasm_bindgen_futures::JsFuture::from(file.array_buffer())
            .await
            .map_err(|_| Failure::Code(tryon_proxy::wire::ErrorCode::InvalidImage))?;
        self.apply(Flow::photo_handed_over);
        worker
            .prepare(bytes.into(), PrepareRequest::person(&limits))
            .await
    }

    /// **Try it on**. Pressed while the photo is still being uploaded or checked, the press is
    /// kept in the flow and [`Self::prepared`] creates the try-on once the photo is settled.
    pub fn submit(self) {
        if self.design_mode() {
            self.show_example();
            return;
        }
        if self.apply(Flow::submit) {
            self.create_if_sending();
        }
    }

    /// Creates the try-on when the flow says it is being sent ([`Step::Uploading`]): the
    /// uploaded photo's id with the garment the element names now (the photo is uploaded first
    /// only if it has no id yet, or again if its id expired).
    fn create_if_sending(self) {
        let Some(host) = self.host() else { return };
        if !self
            .flow
            .with_untracked(|f| matches!(f.step(), Step::Uploading { .. }))
        {
            return;
        }
        let Some(garment) = host.garment() else {
            self.apply(|f| f.fail(Failure::NoGarment));
            return;
        };
        self.with_session(|s| s.garment_url = Some(garment.url.clone()));
        let Some(generation) = self.abandon_attempt(false) else {
            return;
        };
        let form = move |photo_id: &str| {
            let form = FormData::new().ok()?;
            form.append_with_str(fields::PHOTO_ID, photo_id).ok()?;
            form.append_with_str(fields::GARMENT_URL, &garment.url)
                .ok()?;
            form.append_with_str(fields::CATEGORY, garment.category.as_str())
                .ok()?;
            if let Some(lower) = &garment.lower_url {
                form.append_with_str(fields::LOWER_GARMENT_URL, lower)
                    .ok()?;
            }
            Some(form)
        };
        crate::spawn(async move {
            let mut again = false;
            let sent = loop {
                let sent = match self.photo_id(again, false).await {
                    Ok(id) => match form(&id) {
                        Some(form) => self.send(paths::TRYONS, &form).await,
                        None => Err(Failure::UploadFailed),
                    },
                    Err(failure) => Err(failure),
                };
                match sent {
                    // The photo expired at the proxy: sent again, without a word to the shopper.
                    Err(Failure::Code(ErrorCode::PhotoNotFound)) if !again => again = true,
                    sent => break sent,
                }
            };
            let created = sent.and_then(|body| {
                json::parse::<CreatedTryOn>(&body).map_err(|_| Failure::UnexpectedAnswer)
            });
            self.uploaded(generation, created);
        });
    }

    /// Sends `form` to `path` with the bar following its bytes; the body of a 2xx answer.
    async fn send(self, path: &str, form: &FormData) -> Result<String, Failure> {
        let key = dom::random_key().ok_or(Failure::UploadFailed)?;
        let (upload, answer) =
            Upload::start(&self.client(), path, form, &key, move |sent, total| {
                self.apply(|f| f.upload_progress(sent, total));
            })?;
        self.with_session(|s| s.upload = Some(upload));
        answer.get().await
    }

    /// The prepared photo's id at the proxy, uploading the photo first when it has none yet or
    /// `again` (its id expired); the first upload then goes on to the person check if `check`.
    async fn photo_id(self, again: bool, check: bool) -> Result<String, Failure> {
        if let Some(id) = self
            .flow
            .try_with_untracked(|f| f.photo_id().map(str::to_owned))
            .flatten()
            .filter(|_| !again)
        {
            return Ok(id);
        }
        let generation = self.with_session(|s| s.generation);
        let form = self
            .with_session(|s| s.photo.as_ref().map(|(jpeg, _)| jpeg.clone()))
            .flatten()
            .and_then(|jpeg| {
                let form = FormData::new().ok()?;
                form.append_with_blob_and_filename(fields::PERSON, &jpeg, "person.jpg")
                    .ok()?;
                Some(form)
            })
            .ok_or(Failure::UploadFailed)?;
        let body = self.send(paths::PHOTOS, &form).await?;
        let id = json::parse::<UploadedPhoto>(&body)
            .map_err(|_| Failure::UnexpectedAnswer)?
            .id;
        if self.with_session(|s| s.generation) != generation
            || !self.apply(|f| f.photo_stored(id.clone(), check))
        {
            return Err(Failure::UploadFailed);
        }
        Ok(id)
    }

    fn uploaded(self, generation: u32, outcome: Result<CreatedTryOn, Failure>) {
        if self.with_session(|s| s.generation) != Some(generation) {
            return;
        }
        let created = match outcome {
            Ok(created) => created,
            Err(failure) => {
                self.apply(|f| f.fail(failure));
                return;
            }
        };
        if !self.apply(|f| f.created(created.id.clone())) {
            return;
        }
        let callbacks = Callbacks {
            on_status: Box::new(move |view| self.on_status(generation, view)),
            on_lost: Box::new(move |failure| {
                if self.with_session(|s| s.generation) == Some(generation) {
                    self.apply(|f| f.fail(failure));
                }
            }),
        };
        // Behind Shopify's App Proxy the answer offers a direct stream on the proxy's own origin
        // (the App Proxy may not relay streams); polls still take the App Proxy.
        let events = created
            .stream
            .as_ref()
            .map_or(created.links.events.as_str(), |direct| direct.url.as_str());
        let watch = TaskWatch::start(self.client(), events, &created.links.self_, callbacks);
        self.with_session(|s| s.watch = Some(watch));
    }

    fn on_status(self, generation: u32, view: TryOnView) {
        if self.with_session(|s| s.generation) != Some(generation)
            || !self.apply(|f| f.status(&view))
        {
            return;
        }
        if let Some(Step::Done { result }) = self.flow.try_with_untracked(|f| f.step().clone()) {
            let client = self.client();
            // No more pixels than the dialog shows (its width on this screen's pixels): on a
            // phone's downlink the full result is seconds more; Download takes the full one.
            let shown = self.dialog.get_untracked().map_or(0, |d| {
                let ratio = web_sys::window().map_or(1.0, |w| w.device_pixel_ratio());
                (f64::from(d.client_width()) * ratio).ceil() as u32
            });
            let (path, content_type) = if shown > 0 && shown < result.width {
                (
                    format!("{}?{}={shown}", result.url, query::RESULT_WIDTH),
                    media::JPEG,
                )
            } else {
                (result.url.clone(), result.content_type.as_str())
            };
            let content_type = content_type.to_owned();
            crate::spawn(async move {
                let blob = client.result(&path, &content_type).await;
                if self.with_session(|s| s.generation) != Some(generation) {
                    return;
                }
                let blob = blob.ok();
                match blob.as_ref().and_then(ObjectUrl::new).zip(blob) {
                    Some((url, blob)) => {
                        self.shareable.set(crate::components::share::can_share(
                            &blob,
                            &self.download_name(),
                        ));
                        self.result.set(Some(url.as_str().to_owned()));
                        self.with_session(|s| s.result = Some((blob, url)));
                    }
                    None => {
                        self.apply(|f| f.fail(Failure::ResultUnavailable));
                    }
                }
            });
        }
    }

    /// **Cancel** while the try-on runs: stop following it, tell the proxy to delete it, and go
    /// back to the prepared photo.
    pub fn cancel(self) {
        let task_id = self
            .flow
            .try_with_untracked(|f| f.task_id().map(str::to_owned))
            .flatten();
        if !self.apply(Flow::cancel) {
            return;
        }
        self.abandon_attempt(false);
        if let Some(task_id) = task_id {
            let client = self.client();
            crate::spawn(async move {
                // Best effort: an unreachable proxy deletes the photo itself when the task ends.
                let _ = client.delete(&paths::tryon(&task_id)).await;
            });
        }
    }

    /// **Try again** after a failure.
    pub fn retry(self) {
        if self.apply(Flow::retry) {
            let keep_photo = self.flow.with_untracked(|f| f.photo().is_some());
            self.abandon_attempt(!keep_photo);
        }
    }

    /// **Delete my photo now** after a result: `DELETE /v1/tryons/{id}` (the proxy drops the
    /// task's copy of the photo and the result) and `DELETE /v1/photos/{id}` (the uploaded
    /// photo), then the dialog starts over and confirms it; on failure the result stays and the
    /// dialog says so.
    pub fn delete_now(self) {
        let Some((task_id, photo_id)) = self
            .flow
            .with_untracked(|f| Some((f.task_id()?.to_owned(), f.photo_id().map(str::to_owned))))
        else {
            return;
        };
        let client = self.client();
        crate::spawn(async move {
            let mut deleted = client.delete(&paths::tryon(&task_id)).await.is_ok();
            if let Some(id) = photo_id {
                deleted &= client.delete(&paths::photo(&id)).await.is_ok();
            }
            let still_that_task = self
                .flow
                .try_with_untracked(|f| f.task_id() == Some(task_id.as_str()))
                .unwrap_or(false);
            if !still_that_task {
                return;
            }
            if deleted {
                self.start_over();
            }
            self.notice.set(Some(if deleted {
                Key::PhotoDeleted
            } else {
                Key::DeleteFailed
            }));
        });
    }

    /// **Try another photo** after a result.
    pub fn start_over(self) {
        if self.apply(Flow::start_over) {
            self.abandon_attempt(true);
        }
    }

    /// The photo is prepared and shown, **Try it on** enabled, and the photo uploaded once while
    /// the shopper reads its facts. When the proxy offers a person check, the uploaded photo is
    /// judged before any try-on is sent: an error stops here, so no credit is spent on a photo
    /// that would fail; warnings are shown and the shopper may go on. A press meanwhile waits
    /// for both, then sends the try-on.
    fn prepared(self, facts: PhotoFacts) {
        let Some(generation) = self.with_session(|s| s.generation) else {
            return;
        };
        crate::spawn(async move {
            // The config is usually known by now (preparing needed its limits).
            let _ = self.limits().await;
            let offered = self.with_session(|s| s.person_check).unwrap_or(false);
            if self.with_session(|s| s.generation) != Some(generation) {
                return;
            }
            // One transition: the page hears "ready" with the upload already under way.
            if !self.apply(|f| {
                f.photo_prepared(facts)?;
                f.send_photo()
            }) {
                return;
            }
            let mut again = false;
            let verdict = loop {
                let id = match self.photo_id(again, offered).await {
                    Ok(id) if offered => id,
                    // Stored without a check: a press meanwhile is acted on now.
                    Ok(_) => return self.create_if_sending(),
                    Err(failure) => break Err(failure),
                };
                match self.client().check_person(&id).await {
                    // The photo expired at the proxy: sent again, without a word to the shopper.
                    Err(Failure::Code(ErrorCode::PhotoNotFound)) if !again => again = true,
                    verdict => break verdict,
                }
            };
            if self.with_session(|s| s.generation) != Some(generation) {
                return;
            }
            let settled = match verdict {
                Ok(check) => self.apply(|f| f.person_checked(&check)),
                Err(failure) => self.apply(|f| f.check_failed(failure)),
            };
            if settled {
                self.create_if_sending();
            }
        });
    }

    fn design_mode(self) -> bool {
        self.host().is_some_and(|host| host.design_mode())
    }

    /// The theme editor's canned result: a drawing shipped inside the widget, so nothing is
    /// fetched from the proxy and no credit is spent while the merchant sets the block up.
    fn show_example(self) {
        const EXAMPLE_SVG: &str = include_str!("example-result.svg");
        const EXAMPLE_TYPE: &str = "image/svg+xml";
        let parts = js_sys::Array::of1(&JsValue::from_str(EXAMPLE_SVG));
        let options = web_sys::BlobPropertyBag::new();
        options.set_type(EXAMPLE_TYPE);
        let Some((blob, url)) = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options)
            .ok()
            .and_then(|blob| Some((blob.clone(), ObjectUrl::new(&blob)?)))
        else {
            return;
        };
        let example = ResultInfo {
            url: url.as_str().to_owned(),
            width: 600,
            height: 800,
            content_type: EXAMPLE_TYPE.to_owned(),
        };
        if !self.apply(|f| f.show_example(example)) {
            return;
        }
        self.abandon_attempt(true);
        self.result.set(Some(url.as_str().to_owned()));
        self.with_session(|s| s.result = Some((blob, url)));
    }

    /// Reopened on another product (a variant picked since, another garment): the last result
    /// belongs to the old one, so the same photo waits for **Try it on** instead.
    fn follow_product(self) {
        let done = self
            .flow
            .with_untracked(|f| matches!(f.step(), Step::Done { .. } | Step::Failed(_)));
        let now = self.host().and_then(|h| h.garment()).map(|g| g.url);
        let before = self.with_session(|s| s.garment_url.clone()).flatten();
        if done && before.is_some() && now != before && self.apply(Flow::reuse_photo) {
            self.abandon_attempt(false);
        }
    }

    /// How long the proxy keeps her uploaded photo, in minutes, for the line beside it.
    pub fn photo_kept_minutes(self) -> u64 {
        crate::state::kept_minutes(self.with_session(|s| s.photo_ttl_s).flatten())
    }

    /// **Download**'s link: the full result at the proxy (the dialog shows one fitted to it).
    pub fn download_url(self) -> Option<String> {
        self.flow.with_untracked(|f| match f.step() {
            Step::Done { result } if !f.is_example() => Some(self.client().url(&result.url)),
            _ => None,
        })
    }

    /// The file name a downloaded or shared result gets: the product's name and the image type.
    pub fn download_name(self) -> String {
        let product = self.host().and_then(|h| h.product());
        let content_type = self.flow.with_untracked(|f| match f.step() {
            Step::Done { result } => result.content_type.clone(),
            _ => String::new(),
        });
        crate::components::share::file_name(product.as_deref(), &content_type)
    }

    /// **Share**: the result as a file through the Web Share API.
    pub fn share(self) {
        let Some(blob) = self
            .with_session(|s| s.result.as_ref().map(|(blob, _)| blob.clone()))
            .flatten()
        else {
            return;
        };
        let title = self.host().and_then(|h| h.product()).unwrap_or_default();
        crate::components::share::share(&blob, &self.download_name(), &title);
    }

    /// **Add to cart**: tells the page (`tryon:add-to-cart`, cancelable), then, unless the page
    /// took over, submits its product form; the dialog closes so the page's cart shows.
    pub fn add_to_cart(self) {
        let Some(host) = self.host() else { return };
        if self.flow.with_untracked(Flow::is_example) {
            // The theme editor's example: nothing was tried on, and the editor's preview must
            // not navigate to a cart.
            self.close();
            return;
        }
        let task_id = self.flow.with_untracked(|f| f.task_id().map(str::to_owned));
        let proceed = host.emit_cancelable("add-to-cart", task_id.as_deref());
        self.close();
        if let Some(form) = host.product_form().filter(|_| proceed) {
            // requestSubmit, not submit: the theme's own submit handlers (AJAX carts) run.
            let _ = form.request_submit();
        }
    }

    /// The box "Remember my photo on this device" was ticked or cleared.
    pub fn set_remember(self, on: bool) {
        self.remember.set(on);
        self.notice.set(None);
        if !on {
            self.forget_on_device();
            return;
        }
        let photo = self
            .with_session(|s| s.photo.as_ref().map(|(jpeg, _)| jpeg.clone()))
            .flatten();
        if let Some((jpeg, facts)) = photo.zip(self.flow.with_untracked(Flow::photo)) {
            self.keep_on_device(jpeg, facts);
        }
    }

    /// **Forget my photo**: deleted from this device and from the dialog.
    pub fn forget_photo(self) {
        self.remember.set(false);
        self.forget_on_device();
        if self
            .flow
            .with_untracked(|f| matches!(f.step(), Step::Ready))
            && self.apply(Flow::start_over)
        {
            self.abandon_attempt(true);
        }
        self.notice.set(Some(Key::PhotoForgotten));
    }

    fn keep_on_device(self, jpeg: web_sys::Blob, facts: crate::state::PhotoFacts) {
        crate::spawn(async move {
            if photo_store::save(&jpeg, facts).await.is_err() {
                // Private windows and full disks refuse storage: the box must not claim otherwise.
                let _ = self.remember.try_set(false);
            }
        });
    }

    fn forget_on_device(self) {
        crate::spawn(async move {
            let _ = photo_store::forget().await;
        });
    }

    /// On the first opening, a photo remembered on an earlier visit is offered ready to send.
    fn offer_remembered_photo(self) {
        if self.with_session(|s| std::mem::replace(&mut s.looked_for_photo, true)) != Some(false) {
            return;
        }
        crate::spawn(async move {
            let Some(stored) = photo_store::load().await else {
                return;
            };
            let Some(url) = ObjectUrl::new(&stored.jpeg) else {
                return;
            };
            let untouched = self
                .flow
                .try_with_untracked(|f| matches!(f.step(), Step::Choosing))
                .unwrap_or(false);
            if !untouched || !self.apply(Flow::choose_photo) {
                return;
            }
            self.remember.set(true);
            self.preview.set(Some(url.as_str().to_owned()));
            self.with_session(|s| s.photo = Some((stored.jpeg, url)));
            self.prepared(stored.facts);
        });
    }

    /// Drops the resources of the attempt in flight (and the photo if `photo`), so late
    /// answers for it find a newer generation. Returns the new generation.
    fn abandon_attempt(self, photo: bool) -> Option<u32> {
        self.result.set(None);
        self.shareable.set(false);
        if photo {
            self.preview.set(None);
        }
        self.with_session(|s| {
            s.generation += 1;
            s.upload = None;
            s.watch = None;
            s.result = None;
            if photo {
                s.photo = None;
            }
            s.generation
        })
    }

    /// Runs one transition of the flow; on success publishes the new flow and tells the page
    /// what changed. `false` if the transition was stale (or the widget is gone).
    fn apply(self, transition: impl FnOnce(&mut Flow) -> Result<(), Stale>) -> bool {
        self.apply_boxed(Box::new(transition))
    }

    /// [`Self::apply`]'s body, compiled once rather than once per transition (about twenty).
    fn apply_boxed(self, transition: Transition<'_>) -> bool {
        let Some(before) = self.flow.try_get_untracked() else {
            return false;
        };
        let mut after = before.clone();
        if transition(&mut after).is_err() {
            return false;
        }
        let news = milestones(&before, &after);
        let task_id = after.task_id().map(str::to_owned);
        self.flow.set(after);
        for milestone in news {
            self.announce(milestone, task_id.as_deref());
        }
        true
    }

    fn announce(self, milestone: Milestone, task_id: Option<&str>) {
        let Some(host) = self.host() else { return };
        let emit = |name, extra: &[(&str, JsValue)]| host.emit(name, task_id, extra);
        match milestone {
            Milestone::PhotoReady => emit("photo-ready", &[]),
            Milestone::Started { .. } => emit("started", &[]),
            Milestone::Progress { value } => emit("progress", &[("progress", value.into())]),
            Milestone::Completed { .. } => emit("completed", &[]),
            Milestone::Failed { failure } => {
                self.with_session(|s| {
                    s.upload = None;
                    s.watch = None;
                });
                if let Some(code) = failure.unavailable() {
                    Self::tell_merchant(&host, code);
                }
                emit("failed", &[("error", failure.name().into())]);
            }
        }
    }

    /// Try-on cannot work on this page: one console line for the merchant setting it up (the
    /// shopper reads the dialog's neutral sentence), and the button says it is unavailable.
    fn tell_merchant(host: &Host, code: tryon_proxy::wire::ErrorCode) {
        let origin = web_sys::window().map(|w| w.origin()).unwrap_or_default();
        let hint = crate::state::merchant_hint(code, &origin);
        web_sys::console::warn_1(&hint.into());
        if let Some(button) = host.button() {
            let _ = button.set_attribute("aria-disabled", "true");
        }
    }

    fn emit(self, name: &str, extra: &[(&str, JsValue)]) {
        let task_id = self
            .flow
            .try_with_untracked(|f| f.task_id().map(str::to_owned))
            .flatten();
        if let Some(host) = self.host() {
            host.emit(name, task_id.as_deref(), extra);
        }
    }

    /// The element, cloned out of the session: page listeners run synchronously inside
    /// `dispatchEvent`, and no session borrow may be held while foreign code runs.
    fn host(self) -> Option<Host> {
        self.with_session(|s| s.host.clone())
    }

    fn client(self) -> ProxyClient {
        self.with_session(|s| ProxyClient::new(&s.host.proxy_base(&s.options.default_proxy)))
            .unwrap_or_else(|| ProxyClient::new(""))
    }

    fn worker(self) -> Result<Rc<PhotoWorker>, Failure> {
        self.with_session(|s| {
            if let Some(worker) = &s.worker {
                return Ok(Rc::clone(worker));
            }
            let worker = Rc::new(PhotoWorker::start(&s.options.worker_url)?);
            s.worker = Some(Rc::clone(&worker));
            Ok(worker)
        })
        .unwrap_or(Err(Failure::PreparerUnavailable))
    }

    /// The proxy's limits, fetched once; the contract's defaults while the proxy cannot be
    /// asked (the upload will then report the real problem). A refusal that is the merchant's to
    /// fix (an unlisted origin, a spent budget) makes the page [`Step::Unavailable`] at once.
    async fn limits(self) -> Limits {
        if let Some(limits) = self.with_session(|s| s.limits.clone()).flatten() {
            return limits;
        }
        if self.design_mode() {
            return Limits::default();
        }
        match self.client().config().await {
            Ok(config) => {
                self.with_session(|s| {
                    s.limits = Some(config.limits.clone());
                    s.person_check = config.checks.person;
                    s.photo_ttl_s = config.photo_ttl_s;
                });
                config.limits
            }
            Err(failure) => {
                // A refusal only the merchant can fix: no photo step, and no photo module.
                if self.apply(|f| f.refused(failure)) {
                    self.with_session(|s| s.worker = None);
                }
                Limits::default()
            }
        }
    }

    /// Runs `f` on the session; `None` once the widget is unmounted.
    fn with_session<T>(self, f: impl FnOnce(&mut Session) -> T) -> Option<T> {
        self.session.try_update_value(f)
    }
}
