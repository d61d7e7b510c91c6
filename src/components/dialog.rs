//! The modal shell: a real `<dialog>` opened with `showModal()` (focus moves in and is trapped,
//! Esc closes it, the page behind is inert), a title, a close button, the steps, and the note
//! about a photo remembered on this device.

use leptos::prelude::*;

use super::error::ErrorPanel;
use super::notice::{CheckWarning, ExampleNote};
use super::photo::PhotoStep;
use super::progress::ProgressPanel;
use super::result::ResultPanel;
use super::{on_click, on_event, reactive};
use crate::controller::Controller;
use crate::i18n::Key;

#[component]
pub fn TryOnDialog(ctl: Controller) -> impl IntoView {
    let t = move |key| ctl.locale.text(key);
    view! {
        <dialog
            part="dialog"
            class="dialog"
            lang=ctl.locale.tag()
            aria-labelledby="tryon-title"
            node_ref=ctl.dialog
            on:close=on_event(ctl, |ctl, _| ctl.on_closed())
        >
            <header class="head">
                <h2 id="tryon-title" class="title">{t(Key::DialogTitle)}</h2>
                <button
                    type="button"
                    class="close"
                    data-action="close"
                    aria-label=t(Key::Close)
                    on:click=on_click(ctl, Controller::close)
                >
                    <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">
                        <path d="M6 6l12 12M18 6L6 18" stroke="currentColor" stroke-width="2" stroke-linecap="round" />
                    </svg>
                </button>
            </header>
            <div class="body">
                <PhotoStep ctl />
                <CheckWarning ctl />
                <ProgressPanel ctl />
                <ResultPanel ctl />
                <ExampleNote ctl />
                <ErrorPanel ctl />
                <RememberedNote ctl />
            </div>
        </dialog>
    }
}

/// While a photo is remembered, in every step: that it is, and **Forget my photo**. After
/// forgetting it, or deleting it from the proxy: the confirmation, announced. One element whose text changes (rather than two
/// conditional views) keeps the wasm smaller.
#[component]
fn RememberedNote(ctl: Controller) -> impl IntoView {
    let t = move |key| ctl.locale.text(key);
    let line = move || match ctl.notice.get() {
        Some(key) => t(key),
        None if ctl.remember.get() => t(Key::PhotoRemembered),
        None => "",
    };
    view! {
        <p class="remembered" data-role="photo-notice" role="status">
            <span>{reactive(line)}</span>
            <button
                type="button"
                class="link"
                data-action="forget"
                hidden=reactive(move || !ctl.remember.get())
                on:click=on_click(ctl, Controller::forget_photo)
            >
                {t(Key::ForgetPhoto)}
            </button>
        </p>
    }
}
