//! The one progress bar and its line of text, announced to screen readers as it changes.

use leptos::prelude::*;

use super::{on_click, reactive};
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
        <section class="progress" hidden=reactive(move || !ctl.flow.with(Flow::shows_progress))>
            <progress
                part="progress"
                max="100"
                value=reactive(value)
                aria-label=ctl.locale.text(Key::ProgressLabel)
                aria-describedby="tryon-progress-text"
            ></progress>
            <p id="tryon-progress-text" class="progress-text" data-role="progress-text" aria-live="polite">
                {reactive(line)}
            </p>
            <div class="actions" hidden=reactive(move || !running())>
                <button type="button" class="secondary" data-action="cancel" on:click=on_click(ctl, Controller::cancel)>
                    {ctl.locale.text(Key::Cancel)}
                </button>
            </div>
        </section>
    }
}
