//! The one progress bar and its line of text, announced to screen readers as it changes.

use leptos::prelude::*;

use crate::controller::Controller;
use crate::i18n::Key;
use crate::state::{Flow, Step};

#[component]
pub fn ProgressPanel(ctl: Controller) -> impl IntoView {
    let value = move || ctl.flow.with(|f| f.progress().value()).to_string();
    let running = move || {
        ctl.flow.with(|f| {
            matches!(
                f.step(),
                Step::Uploading { .. } | Step::Queued { .. } | Step::Generating { .. }
            )
        })
    };
    let line = move || {
        ctl.flow
            .with(Flow::status_line)
            .map(|line| ctl.locale.status_line(line))
    };
    view! {
        <section class="progress" hidden=move || !ctl.flow.with(Flow::shows_progress)>
            <progress
                part="progress"
                max="100"
                value=value
                aria-label=ctl.locale.text(Key::ProgressLabel)
                aria-describedby="tryon-progress-text"
            ></progress>
            <p id="tryon-progress-text" class="progress-text" data-role="progress-text" aria-live="polite">
                {line}
            </p>
            <div class="actions" hidden=move || !running()>
                <button type="button" class="secondary" data-action="cancel" on:click=move |_| ctl.cancel()>
                    {ctl.locale.text(Key::Cancel)}
                </button>
            </div>
        </section>
    }
}
