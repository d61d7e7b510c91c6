//! The `<try-on-button>` widget: Leptos UI, proxy client, photo-preparation bridge, i18n.
//!
//! The loader (`www/widget.js`) defines the element and draws its button; on the shopper's first
//! sign of intent it loads this crate's wasm and calls [`mount`], which draws the dialog into the
//! element's shadow root and returns a [`Widget`] handle the loader keeps on the element.
//!
//! Map: [`state`] (the flow and progress rules, no browser types, unit-tested natively),
//! [`i18n`] (one sentence table per locale), [`controller`] (drives a try-on), [`components`]
//! (the views; their DOM hooks are listed there), [`client`] (the proxy's v1 contract),
//! [`prepare`] (the photo worker), [`photo_store`] (the opt-in remembered photo), [`host`] (the
//! element's attributes and events), [`dom`] (browser resources that clean up on drop).
//!
//! Events, dispatched from the element, bubbling and composed, `detail = {product, taskId, …}`:
//! `tryon:open`, `tryon:photo-ready`, `tryon:started`, `tryon:progress` (`detail.progress`, 0–100),
//! `tryon:completed`, `tryon:failed` (`detail.error`: the contract's code or a client-side name
//! such as `network`), `tryon:add-to-cart` (cancelable: `preventDefault()` keeps the widget from
//! submitting the page's product form), `tryon:closed`.

pub mod client;
pub mod components;
pub mod controller;
pub mod dom;
pub mod host;
pub mod i18n;
pub mod photo_store;
pub mod prepare;
pub mod state;

use std::cell::Cell;
use std::rc::Rc;

use leptos::prelude::*;
use wasm_bindgen::prelude::*;
use web_sys::HtmlElement;

use crate::controller::{Controller, MountOptions};
use crate::host::Host;

/// Runs a future on the page's event loop. Every future goes through one boxed type, so
/// wasm-bindgen's task and promise machinery is compiled once instead of once per future.
pub(crate) fn spawn(future: impl Future<Output = ()> + 'static) {
    spawn_boxed(Box::pin(future));
}

fn spawn_boxed(future: std::pin::Pin<Box<dyn Future<Output = ()>>>) {
    wasm_bindgen_futures::spawn_local(future);
}

/// One mounted widget. Freeing it (`widget.free()` in JS, done by the loader when the element
/// leaves the page) unmounts the view and releases every browser resource it holds.
#[wasm_bindgen]
pub struct Widget {
    controller: Controller,
    // Owns the reactive owner and the mounted DOM; dropping it unmounts both.
    _view: Box<dyn std::any::Any>,
}

#[wasm_bindgen]
impl Widget {
    /// Opens the dialog.
    pub fn open(&self) {
        self.controller.open();
    }

    /// Closes the dialog; focus returns to the button.
    pub fn close(&self) {
        self.controller.close();
    }
}

/// Registers `options.table` as the sentences of `options.locale`, when the loader sent one.
fn register_table(options: &JsValue) {
    let Some(locale) = dom::string(options, "locale").and_then(|tag| i18n::Locale::from_tag(&tag))
    else {
        return;
    };
    let Ok(table) = js_sys::Reflect::get(options, &"table".into()) else {
        return;
    };
    if !js_sys::Array::is_array(&table) {
        return;
    }
    let sentences: Option<Vec<String>> = js_sys::Array::from(&table)
        .iter()
        .map(|sentence| sentence.as_string())
        .collect();
    if let Some(sentences) = sentences {
        i18n::register(locale, sentences);
    }
}

/// Draws the widget's dialog into `container` (inside `host`'s shadow root).
///
/// `options` is `{proxy: string, worker: string, locale?: string, table?: string[]}`: the proxy
/// base used when the element has no `proxy` attribute (the loader's origin), the absolute URL of
/// the photo worker script, and the sentences of the element's language when that is not English
/// (the loader fetched them beside the wasm; see [`i18n`]).
#[wasm_bindgen]
pub fn mount(
    host: HtmlElement,
    container: HtmlElement,
    options: JsValue,
) -> Result<Widget, JsError> {
    register_table(&options);
    let options = MountOptions {
        default_proxy: dom::string(&options, "proxy")
            .ok_or_else(|| JsError::new("options.proxy is required"))?,
        worker_url: dom::string(&options, "worker")
            .ok_or_else(|| JsError::new("options.worker is required"))?,
    };
    let made = Rc::new(Cell::new(None));
    let view = leptos::mount::mount_to(container, {
        let made = Rc::clone(&made);
        move || {
            let controller = Controller::new(Host::new(host), options);
            made.set(Some(controller));
            view! { <components::TryOnDialog ctl=controller /> }
        }
    });
    let controller = made
        .take()
        .ok_or_else(|| JsError::new("the view did not build"))?;
    Ok(Widget {
        controller,
        _view: Box::new(view),
    })
}
