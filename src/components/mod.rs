//! The dialog's views. They read the [`Controller`]'s signals and call its methods; they hold
//! no state of their own.
//!
//! The button on the product page is drawn by the loader (`www/widget.js`) before any wasm
//! arrives, so it has its final size at first paint; this crate draws everything else, into a
//! container the loader made inside the same shadow root.
//!
//! # DOM hooks (stable; the end-to-end tests and merchants' CSS rely on them)
//! All inside the element's open shadow root (`document.querySelector("try-on-button").shadowRoot`):
//! - `button[part=button]` — the **Try it on** button (drawn by the loader);
//! - `dialog[part=dialog]` — the modal dialog (`open` while shown);
//! - `input[type=file]` — the photo picker (`accept="image/*"`);
//! - `[data-role=photo-facts]` — "391 KB · 1536 × 2048 px" of the prepared photo;
//! - `img[data-role=preview]` — the prepared photo;
//! - `[data-action=submit]` — **Try it on** inside the dialog (enabled once the photo is prepared,
//!   while it is still being uploaded and checked; a press then waits for both);
//! - `[part=progress]` — the `<progress>` bar (`value` 0–100, never decreasing within a try-on);
//! - `[data-role=progress-text]` — the line under it ("Uploading 42%"), an `aria-live` region;
//! - `img[part=result]` — the result image; `img[data-role=before]` — the shopper's photo over
//!   it, left of the divider; `input[data-action=compare]` — the divider (range 0–100);
//! - `[data-role=ai-label]` — "AI-generated preview";
//! - `[data-action=add-to-cart]`, `a[data-action=download]` (its `download` attribute is the file
//!   name), `[data-action=share]` (hidden unless the browser can share files),
//!   `[data-action=delete]` — **Delete my photo now**;
//! - `input[data-action=remember]` — "Remember my photo on this device" (opt-in);
//!   `[data-action=forget]` — **Forget my photo** (shown while a photo is remembered);
//!   `[data-role=photo-notice]` — that it is remembered, or the confirmation that it is gone
//!   (forgotten on this device, or deleted from the proxy);
//! - `[data-role=check-warning]` — the person check's warning about the prepared photo;
//!   `[data-role=example-note]` — under the theme editor's canned result (`design-mode`);
//! - `[data-role=error]` — the error sentence; `[data-action=retry]` — **Try again**;
//! - `[data-action=cancel]` — **Cancel** while the try-on runs (deletes the task);
//! - `[data-action=start-over]` — **Try another photo**; `[data-action=close]` — the close button.
//!
//! `::part()` names for theming: `button`, `dialog`, `progress`, `result`.
//!
//! A part that comes and goes with the step is one element with a reactive `hidden` (the CSS
//! makes `[hidden]` win), not a `<Show>`: each `<Show>` compiled its own view states and
//! transitions, 0.6 KiB or more of gzipped wasm apiece, on the path to the dialog (and the last
//! one took `Show`'s memo with it). An element that must not exist without its data (the
//! preview, the result image) comes from a closure returning an `Option` of its view.

use std::sync::Arc;

use crate::controller::Controller;

/// A reactive attribute or text of one type per output, whatever closure computes it: tachys
/// compiles its attribute and render code once per closure type, and every closure has its own
/// type, so each `move ||` in a view cost its own copy; behind this `Arc` they share one.
pub(crate) type Reactive<T> = Arc<dyn Fn() -> T + Send + Sync>;

pub(crate) fn reactive<T>(compute: impl Fn() -> T + Send + Sync + 'static) -> Reactive<T> {
    Arc::new(compute)
}

/// A click handler that runs one of the controller's actions. Every handler made here is one
/// closure type, so tachys compiles its event code once for all the buttons instead of once per
/// `move |_| …` (about 600 B of wasm each).
pub(crate) fn on_click(
    ctl: Controller,
    action: fn(Controller),
) -> impl FnMut(web_sys::MouseEvent) + 'static {
    move |_| action(ctl)
}

/// [`on_click`] for the events that arrive as a plain `Event` (`change`, `input`, `close`).
pub(crate) fn on_event(
    ctl: Controller,
    action: fn(Controller, web_sys::Event),
) -> impl FnMut(web_sys::Event) + 'static {
    move |event| action(ctl, event)
}

mod dialog;
mod error;
mod notice;
mod photo;
mod progress;
mod result;
pub mod share;

pub use dialog::TryOnDialog;
