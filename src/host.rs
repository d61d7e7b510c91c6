//! The `<try-on-button>` element as the widget sees it: its attributes, the page around it, and
//! the `tryon:*` events it dispatches.
//!
//! Attributes are read when they are needed rather than once at mount, so a storefront that
//! changes `garment` when the shopper picks another colour gets the new image on the next try-on.

use std::cell::Cell;
use std::rc::Rc;

use js_sys::{Object, Reflect};
use tryon_proxy::wire::Category;
use wasm_bindgen::JsValue;
use web_sys::{CustomEvent, CustomEventInit, HtmlElement};

use crate::i18n::Locale;

/// The names of the element's attributes.
pub mod attributes {
    pub const GARMENT: &str = "garment";
    pub const CATEGORY: &str = "category";
    pub const LOWER_GARMENT: &str = "lower-garment";
    pub const PROXY: &str = "proxy";
    pub const PRODUCT: &str = "product";
    pub const LOCALE: &str = "locale";
    /// Set by the Shopify extension in the theme editor: show an example, call no proxy.
    pub const DESIGN_MODE: &str = "design-mode";
}

/// What to try on, read from the element at the moment of a try-on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Garment {
    /// Absolute URL of the product image.
    pub url: String,
    /// Absolute URL of the lower garment, for `combo`.
    pub lower_url: Option<String>,
    pub category: Category,
}

/// The custom element hosting the widget.
#[derive(Clone)]
pub struct Host {
    element: HtmlElement,
    /// When the dialog last opened and the try-on last started (`performance.now()`), for the
    /// timings every event carries.
    clock: Rc<Cell<Timings>>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Timings {
    opened: Option<f64>,
    started: Option<f64>,
}

impl Host {
    pub fn new(element: HtmlElement) -> Self {
        Self {
            element,
            clock: Rc::default(),
        }
    }

    pub fn element(&self) -> &HtmlElement {
        &self.element
    }

    fn attribute(&self, name: &str) -> Option<String> {
        self.element
            .get_attribute(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// The product name used in events (and later in file names).
    pub fn product(&self) -> Option<String> {
        self.attribute(attributes::PRODUCT)
    }

    /// Whether the page is a theme editor's preview: the `design-mode` attribute (the extension
    /// sets it from `request.design_mode`), or Shopify's own `Shopify.designMode` for a button
    /// the merchant pasted by hand. There nothing may reach the proxy or spend a credit.
    pub fn design_mode(&self) -> bool {
        self.element.has_attribute(attributes::DESIGN_MODE) || shopify_design_mode()
    }

    /// The proxy's base URL: the `proxy` attribute, else the origin the loader came from.
    pub fn proxy_base(&self, loader_default: &str) -> String {
        self.attribute(attributes::PROXY)
            .and_then(|url| resolve(&url))
            .unwrap_or_else(|| loader_default.to_owned())
    }

    pub fn locale(&self) -> Locale {
        let page_lang = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.document_element())
            .and_then(|html| html.get_attribute("lang"));
        Locale::resolve(
            self.attribute(attributes::LOCALE).as_deref(),
            page_lang.as_deref(),
        )
    }

    /// The garment now: the `garment` attribute, else the page's `og:image`; relative URLs are
    /// resolved against the page. `None` when the page names no image at all.
    pub fn garment(&self) -> Option<Garment> {
        let url = self
            .attribute(attributes::GARMENT)
            .or_else(og_image)
            .and_then(|url| resolve(&url))?;
        let category = parse_category(self.attribute(attributes::CATEGORY).as_deref());
        let lower_url = self
            .attribute(attributes::LOWER_GARMENT)
            .and_then(|url| resolve(&url));
        Some(Garment {
            url,
            lower_url,
            category,
        })
    }

    /// Dispatches `tryon:<name>` from the element: bubbling and composed, so a listener on
    /// `document` hears it through the shadow boundary.
    pub fn emit(&self, name: &str, task_id: Option<&str>, extra: &[(&str, JsValue)]) {
        self.dispatch(name, task_id, extra, false);
    }

    /// Like [`Self::emit`], but the page may `preventDefault()` it; `false` if it did.
    pub fn emit_cancelable(&self, name: &str, task_id: Option<&str>) -> bool {
        self.dispatch(name, task_id, &[], true)
    }

    fn dispatch(
        &self,
        name: &str,
        task_id: Option<&str>,
        extra: &[(&str, JsValue)],
        cancelable: bool,
    ) -> bool {
        let detail = Object::new();
        let product = self.product().map_or(JsValue::NULL, JsValue::from);
        let task_id = task_id.map_or(JsValue::NULL, JsValue::from);
        let _ = Reflect::set(&detail, &"product".into(), &product);
        let _ = Reflect::set(&detail, &"taskId".into(), &task_id);
        for (key, value) in extra {
            let _ = Reflect::set(&detail, &(*key).into(), value);
        }
        self.add_timings(name, &detail);
        let init = CustomEventInit::new();
        init.set_bubbles(true);
        init.set_composed(true);
        init.set_cancelable(cancelable);
        init.set_detail(&detail);
        match CustomEvent::new_with_event_init_dict(&format!("tryon:{name}"), &init) {
            Ok(event) => self.element.dispatch_event(&event).unwrap_or(true),
            Err(_) => true,
        }
    }

    /// `detail.elapsedMs` (since the dialog opened) on every event, and `detail.durationMs` (since
    /// the try-on started) on `completed` and `failed`, so a merchant measures without a clock of
    /// her own.
    fn add_timings(&self, name: &str, detail: &Object) {
        let Some(now) = web_sys::window()
            .and_then(|w| w.performance())
            .map(|p| p.now())
        else {
            return;
        };
        let mut clock = self.clock.get();
        match name {
            "open" => {
                clock = Timings {
                    opened: Some(now),
                    started: None,
                }
            }
            "started" => clock.started = Some(now),
            _ => {}
        }
        self.clock.set(clock);
        if let Some(opened) = clock.opened {
            let _ = Reflect::set(detail, &"elapsedMs".into(), &(now - opened).round().into());
        }
        if let (Some(started), "completed" | "failed") = (clock.started, name) {
            let _ = Reflect::set(
                detail,
                &"durationMs".into(),
                &(now - started).round().into(),
            );
        }
    }

    /// The page's product form (`form[action*="/cart/add"]`, as Shopify themes and most shops
    /// write it): the one around the element first, else the first on the page.
    pub fn product_form(&self) -> Option<web_sys::HtmlFormElement> {
        use wasm_bindgen::JsCast;
        const PRODUCT_FORM: &str = r#"form[action*="/cart/add"]"#;
        let around = self.element.closest(PRODUCT_FORM).ok().flatten();
        let anywhere = || {
            self.element
                .owner_document()?
                .query_selector(PRODUCT_FORM)
                .ok()?
        };
        around.or_else(anywhere)?.dyn_into().ok()
    }

    /// The button the loader drew, for returning focus when the dialog closes.
    pub fn button(&self) -> Option<HtmlElement> {
        use wasm_bindgen::JsCast;
        let root = self.element.shadow_root()?;
        root.query_selector("button[part=button]")
            .ok()??
            .dyn_into()
            .ok()
    }
}

/// `category` as written by the merchant; anything unknown means "let the proxy decide".
pub fn parse_category(value: Option<&str>) -> Category {
    value.and_then(Category::parse).unwrap_or_default()
}

fn shopify_design_mode() -> bool {
    let Some(window) = web_sys::window() else {
        return false;
    };
    Reflect::get(&window, &"Shopify".into())
        .ok()
        .filter(|shopify| shopify.is_object())
        .and_then(|shopify| Reflect::get(&shopify, &"designMode".into()).ok())
        .is_some_and(|flag| flag.is_truthy())
}

fn og_image() -> Option<String> {
    let document = web_sys::window()?.document()?;
    let meta = document
        .query_selector("meta[property='og:image']")
        .ok()??;
    meta.get_attribute("content")
}

/// Resolves `url` against the page's base URL.
fn resolve(url: &str) -> Option<String> {
    let base = web_sys::window()?.document()?.base_uri().ok()??;
    web_sys::Url::new_with_base(url, &base)
        .ok()
        .map(|u| u.href())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_or_missing_categories_mean_auto() {
        assert_eq!(parse_category(Some("upper")), Category::Upper);
        assert_eq!(parse_category(Some("combo")), Category::Combo);
        assert_eq!(parse_category(Some("hat")), Category::Auto);
        assert_eq!(parse_category(None), Category::Auto);
    }
}
