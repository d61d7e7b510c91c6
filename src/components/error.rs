//! A failed attempt: the specific sentence for what went wrong, and **Try again**; or, when
//! try-on cannot work on this page at all ([`Step::Unavailable`]), one neutral sentence and
//! nothing to press.

use leptos::prelude::*;

use super::{on_click, reactive};
use crate::controller::Controller;
use crate::i18n::Key;
use crate::state::Step;

#[component]
pub fn ErrorPanel(ctl: Controller) -> impl IntoView {
    let t = move |key| ctl.locale.text(key);
    let sentence = move || match ctl.flow.with(|f| f.step().clone()) {
        Step::Failed(failure) => Some(ctl.locale.failure(failure)),
        Step::Unavailable(_) => Some(t(Key::Unavailable)),
        _ => None,
    };
    let unavailable = move || ctl.flow.with(|f| f.is_unavailable());
    view! {
        <section class="error" role="alert" hidden=reactive(move || sentence().is_none())>
            <h3 class="error-title" hidden=reactive(unavailable)>{t(Key::ErrorHeading)}</h3>
            <p data-role="error">{reactive(sentence)}</p>
            <div class="actions" hidden=reactive(unavailable)>
                <button type="button" class="primary" data-action="retry" on:click=on_click(ctl, Controller::retry)>
                    {t(Key::TryAgain)}
                </button>
            </div>
        </section>
    }
}
