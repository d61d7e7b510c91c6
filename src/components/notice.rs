//! Notes that sit beside a step rather than replace it: the person check's warning under the
//! prepared photo (the shopper may still press **Try it on**), and the theme editor's
//! "example result" line under the canned result.

use leptos::prelude::*;

use super::reactive;
use crate::controller::Controller;
use crate::i18n::Key;
use crate::state::Flow;

#[component]
pub fn CheckWarning(ctl: Controller) -> impl IntoView {
    let warning = move || {
        ctl.flow
            .with(|f| f.warning().filter(|_| f.shows_picker()))
            .map(|issue| ctl.locale.photo_issue(issue))
    };
    view! {
        <p class="check-warning" data-role="check-warning" role="status" hidden=reactive(move || warning().is_none())>{reactive(warning)}</p>
    }
}

#[component]
pub fn ExampleNote(ctl: Controller) -> impl IntoView {
    view! {
        <p class="example-note" data-role="example-note" hidden=reactive(move || !ctl.flow.with(Flow::is_example))>{ctl.locale.text(Key::ExampleNotice)}</p>
    }
}
