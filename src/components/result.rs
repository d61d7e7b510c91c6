//! The finished look, inline in the dialog.

use leptos::prelude::*;

use crate::controller::Controller;
use crate::i18n::Key;
use crate::state::Step;

#[component]
pub fn ResultPanel(ctl: Controller) -> impl IntoView {
    let t = move |key| ctl.locale.text(key);
    // Width and height come from the task's result info, so the frame has its final shape
    // before the image bytes arrive.
    let size = move || match ctl.flow.with(|f| f.step().clone()) {
        Step::Done { result } => Some((result.width, result.height)),
        _ => None,
    };
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
                </div>
                <div class="actions">
                    <button type="button" class="secondary" data-action="start-over" on:click=move |_| ctl.start_over()>
                        {t(Key::TryAnother)}
                    </button>
                </div>
            </section>
        </Show>
    }
}
