//! A failed attempt: the specific sentence for what went wrong, and **Try again**.

use leptos::prelude::*;

use super::{on_click, reactive};
use crate::controller::Controller;
use crate::i18n::Key;
use crate::state::Step;

#[component]
pub fn ErrorPanel(ctl: Controller) -> impl IntoView {
    let t = move |key| ctl.locale.text(key);
    let failure = move || match ctl.flow.with(|f| f.step().clone()) {
        Step::Failed(failure) => Some(failure),
        _ => None,
    };
    view! {
        <section class="error" role="alert" hidden=reactive(move || failure().is_none())>
            <h3 class="error-title">{t(Key::ErrorHeading)}</h3>
            <p data-role="error">{reactive(move || failure().map(|f| ctl.locale.failure(f)))}</p>
            <div class="actions">
                <button type="button" class="primary" data-action="retry" on:click=on_click(ctl, Controller::retry)>
                    {t(Key::TryAgain)}
                </button>
            </div>
        </section>
    }
}
