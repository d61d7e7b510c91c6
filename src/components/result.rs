//! The finished look: a before/after comparison, the "AI-generated preview" label, and what a
//! shopper does next (**Download**, **Share**, **Add to cart**, **Try another photo**).
//!
//! The comparison's divider is a native `<input type=range>` laid over the picture: it is
//! keyboard-operable (arrows, Home/End, Page Up/Down), announced with its value by screen
//! readers, and draggable with a mouse or a finger anywhere on the picture, with no script of
//! ours handling pointer events.

use leptos::prelude::*;

use crate::controller::Controller;
use crate::i18n::Key;
use crate::state::Step;

/// Where the divider starts: half the shopper's photo, half the result.
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
    let divider = RwSignal::new(DIVIDER_START);
    let on_slide = move |event: web_sys::Event| {
        if let Ok(value) = event_target_value(&event).parse::<u8>() {
            divider.set(value.min(100));
        }
    };
    // The shopper's photo covers the result left of the divider.
    let before_clip = move || format!("inset(0 {}% 0 0)", 100 - divider.get());
    let divider_at = move || format!("{}%", divider.get());
    let comparable = move || ctl.result.with(Option::is_some) && ctl.preview.with(Option::is_some);
    view! {
        <Show when=move || size().is_some()>
            <section class="result">
                <div
                    class="result-frame"
                    style:aspect-ratio=move || size().map(|(w, h)| format!("{w} / {h}"))
                >
                    {move || {
                        ctl.result.get().map(|src| {
                            let (width, height) = size().unwrap_or_default();
                            view! {
                                <img
                                    part="result"
                                    src=src
                                    alt=t(Key::ResultAlt)
                                    width=width.to_string()
                                    height=height.to_string()
                                />
                            }
                        })
                    }}
                    // Always in the DOM, hidden until both pictures exist: one view type less.
                    <div class="compare-layer" hidden=move || !comparable()>
                        <img
                            class="before"
                            data-role="before"
                            src=move || ctl.preview.get()
                            alt=t(Key::BeforeAlt)
                            style:clip-path=before_clip
                        />
                        <span class="divider" aria-hidden="true" style:left=divider_at></span>
                        <input
                            type="range"
                            class="compare"
                            data-action="compare"
                            min="0"
                            max="100"
                            step="1"
                            prop:value=move || divider.get().to_string()
                            aria-label=t(Key::CompareLabel)
                            on:input=on_slide
                        />
                    </div>
                </div>
                <p class="ai-label" data-role="ai-label">{t(Key::AiGenerated)}</p>
                <div class="actions">
                    <button type="button" class="primary" data-action="add-to-cart" on:click=move |_| ctl.add_to_cart()>
                        {t(Key::AddToCart)}
                    </button>
                    <a
                        class="secondary"
                        data-action="download"
                        href=move || ctl.result.get()
                        download=move || ctl.result.with(|_| ctl.download_name())
                        hidden=move || ctl.result.with(Option::is_none)
                    >
                        {t(Key::Download)}
                    </a>
                    <button
                        type="button"
                        class="secondary"
                        data-action="share"
                        hidden=move || !ctl.shareable.get()
                        on:click=move |_| ctl.share()
                    >
                        {t(Key::Share)}
                    </button>
                    <button type="button" class="secondary" data-action="start-over" on:click=move |_| ctl.start_over()>
                        {t(Key::TryAnother)}
                    </button>
                </div>
            </section>
        </Show>
    }
}
