//! Browser resources as Rust values that clean up when dropped (in the spirit of gloo).
//!
//! The widget lives on someone else's page, possibly for hours and across many try-ons: every
//! object URL, listener and timer it creates must go away with the thing that needed it, or the
//! merchant's page leaks photos and callbacks. Owning them as values makes that automatic.

use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{Blob, EventTarget};

/// A `blob:` URL, revoked on drop so the bytes behind it can be freed.
#[derive(Debug)]
pub struct ObjectUrl(String);

impl ObjectUrl {
    pub fn new(blob: &Blob) -> Option<Self> {
        web_sys::Url::create_object_url_with_blob(blob)
            .ok()
            .map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Drop for ObjectUrl {
    fn drop(&mut self) {
        let _ = web_sys::Url::revoke_object_url(&self.0);
    }
}

/// An event listener, removed on drop.
pub struct EventListener {
    target: EventTarget,
    kind: &'static str,
    callback: Closure<dyn FnMut(web_sys::Event)>,
}

impl EventListener {
    pub fn new(
        target: &EventTarget,
        kind: &'static str,
        callback: impl FnMut(web_sys::Event) + 'static,
    ) -> Self {
        let callback = Closure::<dyn FnMut(web_sys::Event)>::new(callback);
        let _ = target.add_event_listener_with_callback(kind, callback.as_ref().unchecked_ref());
        Self {
            target: target.clone(),
            kind,
            callback,
        }
    }
}

impl Drop for EventListener {
    fn drop(&mut self) {
        let _ = self
            .target
            .remove_event_listener_with_callback(self.kind, self.callback.as_ref().unchecked_ref());
    }
}

/// A `setTimeout`, cleared on drop.
pub struct Timeout {
    id: i32,
    _callback: Closure<dyn FnMut()>,
}

impl Timeout {
    pub fn new(millis: i32, callback: impl FnOnce() + 'static) -> Option<Self> {
        let callback = Closure::once(callback);
        let id = web_sys::window()?
            .set_timeout_with_callback_and_timeout_and_arguments_0(
                callback.as_ref().unchecked_ref(),
                millis,
            )
            .ok()?;
        Some(Self {
            id,
            _callback: callback,
        })
    }
}

impl Drop for Timeout {
    fn drop(&mut self) {
        if let Some(window) = web_sys::window() {
            window.clear_timeout_with_handle(self.id);
        }
    }
}

/// Reads `name` from a JS object, `None` when absent or not of type `T`.
pub fn field<T: JsCast>(object: &wasm_bindgen::JsValue, name: &str) -> Option<T> {
    js_sys::Reflect::get(object, &name.into())
        .ok()?
        .dyn_into()
        .ok()
}

/// Reads a numeric field of a JS object.
pub fn number(object: &wasm_bindgen::JsValue, name: &str) -> Option<f64> {
    js_sys::Reflect::get(object, &name.into()).ok()?.as_f64()
}

/// Reads a string field of a JS object.
pub fn string(object: &wasm_bindgen::JsValue, name: &str) -> Option<String> {
    js_sys::Reflect::get(object, &name.into()).ok()?.as_string()
}

/// A random `Idempotency-Key`: 128 bits from the platform's CSPRNG as hex. `crypto.randomUUID`
/// would be shorter to write but needs a secure context, which a merchant's http page is not.
pub fn random_key() -> Option<String> {
    let crypto = web_sys::window()?.crypto().ok()?;
    let mut bytes = [0u8; 16];
    crypto.get_random_values_with_u8_array(&mut bytes).ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
