//! The finished look: a before/after comparison, the "AI-generated preview" label, and what a
//! shopper does next (**Download**, **Share**, **Add to cart**, **Try another photo**,
//! **Delete my photo now**).
//!
//! The comparison's divider is a native `<input type=range>` laid over the picture: it is
//! keyboard-operable (arrows, Home/End, Page Up/Down), announced with its value by screen
//! readers, and draggable with a mouse or a finger anywhere on the picture, with no script of
//! ours handling pointer events.

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{HtmlElement, HtmlInputElement};

use super::{on_click, on_event, reactive};
use crate::controller::Controller;
use crate::i18n::Key;
use crate::state::Step;

/// Where the divider starts: half the shopper's photo, half the result (also in widget.css).
const DIVIDER_START: u8 = 50;

#[component]
pub fn ResultPanel(ctl: Controller) -> impl IntoView {
    let t = move |key| ctl.locale.text(key);
    // Width and height come from the task's result info, so the frame has its final shape
    // before the image bytes arrive.
    let size = move || match ctl.flow.with(|f| f.step().clone()) {
        Step::Done { result } => Some((result.width, result.height)),
        _ => None,
    };
    // Everything that needs the result's bytes appears with them, with fixed attributes: one
    // reactive block instead of an effect per attribute keeps the wasm smaller.
    let pictures = move || {
        let src = ctl.result.get()?;
        let (width, height) = size().unwrap_or_default();
        let before = ctl.preview.get_untracked().map(|before| {
            view! {
                <div class="compare-layer">
                    <img class="before" data-role="before" src=before alt=t(Key::BeforeAlt) />
                    <span class="divider" aria-hidden="true"></span>
                    <input
                        type="range"
                        class="compare"
                        data-action="compare"
                        min="0"
                        max="100"
                        step="1"
                        value=DIVIDER_START.to_string()
                        aria-label=t(Key::CompareLabel)
                        on:input=on_event(ctl, |_, event| move_divider(event))
                    />
                </div>
            }
        });
        Some(view! {
            <img
                part="result"
                src=src
                alt=t(Key::ResultAlt)
                width=width.to_string()
                height=height.to_string()
            />
            {before}
        })
    };
    // The full result, fetched only if she asks for it; the theme editor's example has none
    // at the proxy, so its own picture is downloaded. A new tab if the proxy is on another
    // origin (where `download` is ignored), so the product page stays.
    let download = move || {
        ctl.result.get().map(|src| {
            view! {
                <a
                    class="secondary"
                    data-action="download"
                    href=ctl.download_url().unwrap_or(src)
                    download=ctl.download_name()
                    target="_blank"
                >
                    {t(Key::Download)}
                </a>
            }
        })
    };
    view! {
        <section class="result" hidden=reactive(move || size().is_none())>
            <div
                class="result-frame"
                style:aspect-ratio=move || size().map(|(w, h)| format!("{w} / {h}"))
            >
                {pictures}
            </div>
            <p class="ai-label" data-role="ai-label">{t(Key::AiGenerated)}</p>
            <div class="actions">
                <button type="button" class="primary" data-action="add-to-cart" on:click=on_click(ctl, Controller::add_to_cart)>
                    {t(Key::AddToCart)}
                </button>
                {download}
                <button
                    type="button"
                    class="secondary"
                    data-action="share"
                    hidden=reactive(move || !ctl.shareable.get())
                    on:click=on_click(ctl, Controller::share)
                >
                    {t(Key::Share)}
                </button>
                <button type="button" class="secondary" data-action="start-over" on:click=on_click(ctl, Controller::start_over)>
                    {t(Key::TryAnother)}
                </button>
            </div>
            <button type="button" class="link delete" data-action="delete" on:click=on_click(ctl, Controller::delete_now)>
                {t(Key::DeletePhoto)}
            </button>
        </section>
    }
}

/// The divider moved: the layer's `--split` (where the divider is drawn) and `--rest` (how much
/// of the result is uncovered) follow it. Set on the element directly, not through a signal:
/// nothing else depends on it.
fn move_divider(event: web_sys::Event) {
    let Some(input) = event
        .target()
        .and_then(|t| t.dyn_into::<HtmlInputElement>().ok())
    else {
        return;
    };
    let Some(layer) = input
        .parent_element()
        .and_then(|e| e.dyn_into::<HtmlElement>().ok())
    else {
        return;
    };
    // Whole percents (the input's step is 1), formatted as integers: formatting an f64 would
    // link core's float printing, about 6 KB of gzipped wasm, for these two properties only.
    let split = input.value_as_number().clamp(0.0, 100.0).round() as u8;
    let style = layer.style();
    let _ = style.set_property("--split", &format!("{split}%"));
    let _ = style.set_property("--rest", &format!("{}%", 100 - split));
}
