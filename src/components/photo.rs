//! Tips, the file picker and the preview of the prepared photo, with what leaves the device,
//! and the opt-in to remember it on this device.

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::HtmlInputElement;

use super::{on_click, on_event, reactive};
use crate::controller::Controller;
use crate::i18n::{Key, fill};
use crate::state::Flow;

#[component]
pub fn PhotoStep(ctl: Controller) -> impl IntoView {
    let t = move |key| ctl.locale.text(key);
    let has_photo = move || ctl.preview.with(Option::is_some);
    let facts = move || {
        ctl.flow.with(Flow::photo).map(|p| {
            fill(
                t(Key::PhotoFacts),
                &[
                    ("kb", p.kilobytes()),
                    ("width", p.width.into()),
                    ("height", p.height.into()),
                ],
            )
        })
    };
    // Known once the config is (before any photo is prepared); follows the photo so it is read
    // then, not when the dialog is drawn.
    let kept = move || {
        ctl.flow
            .with(Flow::photo)
            .map(|_| fill(t(Key::PhotoKept), &[("min", ctl.photo_kept_minutes())]))
    };
    // The preview exists only with a photo to show (tests and the page count it).
    let preview = move || {
        ctl.preview
            .get()
            .map(|src| view! { <img data-role="preview" src=src alt=t(Key::PreviewAlt) /> })
    };
    view! {
        <section class="photo" hidden=reactive(move || !ctl.flow.with(Flow::shows_picker))>
            <div class="tips" hidden=reactive(has_photo)>
                <h3 class="tips-title">{t(Key::TipsHeading)}</h3>
                <ul>
                    <li>{t(Key::TipFullBody)}</li>
                    <li>{t(Key::TipFacingForward)}</li>
                    <li>{t(Key::TipPlainBackground)}</li>
                </ul>
            </div>
            <figure class="preview" hidden=reactive(move || !has_photo())>
                {preview}
                <figcaption>
                    <span data-role="photo-facts">{reactive(facts)}</span>
                    <span class="privacy">{t(Key::MetadataRemoved)}</span>
                    <span class="privacy" data-role="photo-kept">{reactive(kept)}</span>
                </figcaption>
            </figure>
            <label class="remember" hidden=reactive(move || !has_photo())>
                <input
                    type="checkbox"
                    data-action="remember"
                    aria-describedby="tryon-remember-hint"
                    prop:checked=reactive(move || ctl.remember.get())
                    on:change=on_event(ctl, |ctl, event| ctl.set_remember(event_target_checked(&event)))
                />
                <span>
                    {t(Key::RememberPhoto)}
                    <small id="tryon-remember-hint" class="hint">{t(Key::RememberHint)}</small>
                </span>
            </label>
            <div class="actions">
                <input
                    type="file"
                    id="tryon-file"
                    class="file"
                    accept="image/*"
                    on:change=on_event(ctl, picked)
                />
                <label for="tryon-file" class=reactive(move || if has_photo() { "pick secondary" } else { "pick primary" })>
                    {reactive(move || t(if has_photo() { Key::ChooseAnother } else { Key::ChoosePhoto }))}
                </label>
                <button
                    type="button"
                    class="primary"
                    data-action="submit"
                    hidden=reactive(move || !has_photo())
                    disabled=reactive(move || !ctl.flow.with(Flow::can_submit))
                    on:click=on_click(ctl, Controller::submit)
                >
                    {t(Key::Submit)}
                </button>
            </div>
        </section>
    }
}

/// The file picker's `change`: prepare the picked file.
fn picked(ctl: Controller, event: web_sys::Event) {
    let Some(input) = event
        .target()
        .and_then(|t| t.dyn_into::<HtmlInputElement>().ok())
    else {
        return;
    };
    if let Some(file) = input.files().and_then(|files| files.get(0)) {
        ctl.choose(file);
    }
    // Cleared so picking the same file again (after an error) fires `change` again.
    input.set_value("");
}
