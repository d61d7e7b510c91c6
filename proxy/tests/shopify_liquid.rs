//! The Shopify theme app extension's Liquid (www/shopify), rendered with the `liquid` crate.
//!
//! Shopify renders these files on its servers, so nothing else here would notice a block that
//! lost its garment URL or variant map. The Shopify-only filters are stubbed below the way
//! Shopify documents them: `image_url` appends `width=`, `asset_url` points at the extension's
//! CDN folder, `json` serialises, and `t` reads the extension's own `locales/en.default.json`
//! (so a missing translation key fails here as it would show "translation missing" there).
//! `{% schema %}` is cut out before rendering (Shopify never renders it) and checked as JSON.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use liquid::model::{Object, Value};
use liquid::partials::{EagerCompiler, InMemorySource};
use liquid_core::{
    Display_filter, Expression, Filter, FilterParameters, FilterReflection, FromFilterParameters,
    ParseFilter, Result, Runtime, ValueView,
};
use serde_json::Value as Json;

const CDN: &str = "//cdn.shopify.test/extensions/tryon/assets/";
const BLUE: &str = "//shop.test/cdn/shop/files/shirt-blue.jpg?v=1";
const RED: &str = "//shop.test/cdn/shop/files/shirt-red.jpg?v=2";

// ---- the extension's files --------------------------------------------------------------------

fn extension_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../www/shopify")
        .join(rel)
}

fn read_extension_file(rel: &str) -> String {
    let path = extension_path(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn read_json(rel: &str) -> Json {
    serde_json::from_str(&read_extension_file(rel))
        .unwrap_or_else(|e| panic!("{rel} is not valid JSON: {e}"))
}

/// Splits a block file into the Liquid Shopify renders and its `{% schema %}` JSON.
fn split_schema(rel: &str) -> (String, Json) {
    let source = read_extension_file(rel);
    let start = source
        .find("{% schema %}")
        .unwrap_or_else(|| panic!("{rel} has no {{% schema %}}"));
    let end = source
        .find("{% endschema %}")
        .unwrap_or_else(|| panic!("{rel} has no {{% endschema %}}"));
    let schema = serde_json::from_str(&source[start + "{% schema %}".len()..end])
        .unwrap_or_else(|e| panic!("the schema of {rel} is not valid JSON: {e}"));
    (
        format!(
            "{}{}",
            &source[..start],
            &source[end + "{% endschema %}".len()..]
        ),
        schema,
    )
}

// ---- stubs of Shopify's filters ---------------------------------------------------------------

#[derive(Debug, FilterParameters)]
struct ImageUrlArgs {
    #[parameter(
        description = "Width in pixels.",
        arg_type = "integer",
        mode = "keyword"
    )]
    width: Option<Expression>,
}

#[derive(Clone, ParseFilter, FilterReflection)]
#[filter(
    name = "image_url",
    description = "Shopify's image URL: the image's `src` with `width=` appended.",
    parameters(ImageUrlArgs),
    parsed(ImageUrlFilter)
)]
struct ImageUrl;

#[derive(Debug, FromFilterParameters, Display_filter)]
#[name = "image_url"]
struct ImageUrlFilter {
    #[parameters]
    args: ImageUrlArgs,
}

impl Filter for ImageUrlFilter {
    fn evaluate(&self, input: &dyn ValueView, runtime: &dyn Runtime) -> Result<Value> {
        let args = self.args.evaluate(runtime)?;
        let src = input
            .as_object()
            .and_then(|image| image.get("src"))
            .map(|src| src.to_kstr().to_string())
            .ok_or_else(|| liquid_core::Error::with_msg("image_url needs an image object"))?;
        let url = match args.width {
            Some(width) => {
                let separator = if src.contains('?') { '&' } else { '?' };
                format!("{src}{separator}width={width}")
            }
            None => src,
        };
        Ok(Value::scalar(url))
    }
}

#[derive(Clone, ParseFilter, FilterReflection)]
#[filter(
    name = "asset_url",
    description = "URL of a file in the extension's assets/.",
    parsed(AssetUrlFilter)
)]
struct AssetUrl;

#[derive(Debug, Default, Display_filter)]
#[name = "asset_url"]
struct AssetUrlFilter;

impl Filter for AssetUrlFilter {
    fn evaluate(&self, input: &dyn ValueView, _runtime: &dyn Runtime) -> Result<Value> {
        Ok(Value::scalar(format!("{CDN}{}", input.to_kstr())))
    }
}

#[derive(Clone, ParseFilter, FilterReflection)]
#[filter(name = "json", description = "The value as JSON.", parsed(JsonFilter))]
struct JsonStub;

#[derive(Debug, Default, Display_filter)]
#[name = "json"]
struct JsonFilter;

impl Filter for JsonFilter {
    fn evaluate(&self, input: &dyn ValueView, _runtime: &dyn Runtime) -> Result<Value> {
        let json = serde_json::to_string(&input.to_value())
            .map_err(|e| liquid_core::Error::with_msg(e.to_string()))?;
        Ok(Value::scalar(json))
    }
}

#[derive(Clone, ParseFilter, FilterReflection)]
#[filter(
    name = "t",
    description = "Storefront translation from locales/en.default.json.",
    parsed(TranslateFilter)
)]
struct Translate;

#[derive(Debug, Default, Display_filter)]
#[name = "t"]
struct TranslateFilter;

impl Filter for TranslateFilter {
    fn evaluate(&self, input: &dyn ValueView, _runtime: &dyn Runtime) -> Result<Value> {
        static STOREFRONT_STRINGS: OnceLock<Json> = OnceLock::new();
        let strings = STOREFRONT_STRINGS.get_or_init(|| read_json("locales/en.default.json"));
        let key = input.to_kstr();
        lookup(strings, &key)
            .and_then(Json::as_str)
            .map(|text| Value::scalar(text.to_owned()))
            .ok_or_else(|| liquid_core::Error::with_msg(format!("translation missing: en.{key}")))
    }
}

fn lookup<'a>(tree: &'a Json, dotted_key: &str) -> Option<&'a Json> {
    dotted_key
        .split('.')
        .try_fold(tree, |node, part| node.get(part))
}

// ---- rendering --------------------------------------------------------------------------------

fn render(block_file: &str, globals: &Object) -> String {
    let mut snippets = InMemorySource::new();
    for name in ["tryon-button", "tryon-variant-images"] {
        snippets.add(
            name,
            read_extension_file(&format!("snippets/{name}.liquid")),
        );
    }
    let parser = liquid::ParserBuilder::with_stdlib()
        .filter(ImageUrl)
        .filter(AssetUrl)
        .filter(JsonStub)
        .filter(Translate)
        .partials(EagerCompiler::new(snippets))
        .build()
        .expect("parser builds");
    let (template, _) = split_schema(block_file);
    parser
        .parse(&template)
        .unwrap_or_else(|e| panic!("{block_file} does not parse: {e}"))
        .render(globals)
        .unwrap_or_else(|e| panic!("{block_file} does not render: {e}"))
}

fn image(src: &str) -> Value {
    Value::Object(liquid::object!({ "src": src }))
}

/// A shirt in blue (also the featured image), red, and a variant without an image. Absent
/// images are explicit nils, as in Shopify's objects (the `liquid` crate refuses unknown keys).
fn shirt(tags: &[&str], selected_variant_image: &str) -> Value {
    let tags = tags
        .iter()
        .map(|tag| Value::scalar((*tag).to_owned()))
        .collect::<Vec<_>>();
    Value::Object(liquid::object!({
        "title": "Linen shirt \"Azur\" & co",
        "tags": tags,
        "featured_image": image(BLUE),
        "selected_or_first_available_variant": {
            "id": 222,
            "featured_image": image(selected_variant_image),
        },
        "variants": [
            { "id": 111, "featured_image": image(BLUE) },
            { "id": 222, "featured_image": image(RED) },
            { "id": 333, "featured_image": nil },
        ],
    }))
}

fn app_block_globals(product: Value, settings: Object, design_mode: bool) -> Object {
    liquid::object!({
        "product": product,
        "block": { "id": "B1", "shopify_attributes": "data-shopify-editor-block=\"{}\"", "settings": settings },
        "request": { "design_mode": design_mode, "locale": { "iso_code": "fr" } },
        "template": { "name": "product" },
    })
}

fn block_settings(garment_image: &str, label: &str, hide_tag: &str) -> Object {
    liquid::object!({
        "label": label,
        "accent": "#ff0055",
        "category": "upper",
        "garment_image": garment_image,
        "hide_tag": hide_tag,
    })
}

// ---- reading the rendered HTML ----------------------------------------------------------------

/// Attributes of the first `<tag …>` in `html` (entities decoded; valueless ones map to `None`),
/// or `None` when there is no such element.
fn element_attributes(html: &str, tag: &str) -> Option<BTreeMap<String, Option<String>>> {
    let open = format!("<{tag}");
    let start = html.find(&open)? + open.len();
    let end = start + html[start..].find('>')?;
    let mut attributes = BTreeMap::new();
    let mut rest = html[start..end].trim_start();
    while !rest.is_empty() {
        let name_end = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let name = rest[..name_end].to_owned();
        rest = &rest[name_end..];
        let value = if let Some(quoted) = rest.strip_prefix("=\"") {
            let close = quoted.find('"').expect("attribute value is closed");
            rest = &quoted[close + 1..];
            Some(decode_entities(&quoted[..close]))
        } else {
            None
        };
        attributes.insert(name, value);
        rest = rest.trim_start();
    }
    Some(attributes)
}

fn decode_entities(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn attribute<'a>(attributes: &'a BTreeMap<String, Option<String>>, name: &str) -> &'a str {
    attributes
        .get(name)
        .unwrap_or_else(|| panic!("no `{name}` attribute among {attributes:?}"))
        .as_deref()
        .unwrap_or_else(|| panic!("`{name}` has no value in {attributes:?}"))
}

fn button_attributes(html: &str) -> BTreeMap<String, Option<String>> {
    element_attributes(html, "try-on-button")
        .unwrap_or_else(|| panic!("no <try-on-button> rendered in:\n{html}"))
}

/// The JSON inside `<script type="application/json" id="{id}">`.
fn json_script(html: &str, id: &str) -> Json {
    let open = format!("<script type=\"application/json\" id=\"{id}\">");
    let start = html
        .find(&open)
        .unwrap_or_else(|| panic!("no {open} in:\n{html}"))
        + open.len();
    let end = start + html[start..].find("</script>").expect("script is closed");
    serde_json::from_str(&html[start..end])
        .unwrap_or_else(|e| panic!("the variant map is not JSON ({e}):\n{}", &html[start..end]))
}

fn at_1024(src: &str) -> String {
    format!("{src}&width=1024")
}

// ---- the app block ----------------------------------------------------------------------------

#[test]
fn the_app_block_renders_the_selected_variants_garment_and_the_variant_image_map() {
    let globals = app_block_globals(
        shirt(&[], RED),
        block_settings("variant", "", "no-try-on"),
        false,
    );
    let html = render("blocks/try-on-button.liquid", &globals);
    let button = button_attributes(&html);

    assert_eq!(attribute(&button, "id"), "tryon-button-B1");
    assert_eq!(
        attribute(&button, "garment"),
        at_1024(RED),
        "the selected variant's image at 1024 px"
    );
    assert_eq!(attribute(&button, "product"), "Linen shirt \"Azur\" & co");
    assert_eq!(
        attribute(&button, "label"),
        "Try it on",
        "the label comes from locales/en.default.json"
    );
    assert_eq!(attribute(&button, "category"), "upper");
    assert_eq!(attribute(&button, "style"), "--tryon-accent: #ff0055;");
    assert_eq!(
        attribute(&button, "data-variant-images"),
        "tryon-variants-B1"
    );
    for absent in ["design-mode", "floating", "locale", "proxy"] {
        assert!(
            !button.contains_key(absent),
            "unexpected `{absent}` in {button:?}"
        );
    }

    let variants = json_script(&html, "tryon-variants-B1");
    assert_eq!(
        variants,
        serde_json::json!({
            "111": at_1024(BLUE),
            "222": at_1024(RED),
            "333": at_1024(BLUE),
        }),
        "every variant maps to its image, or the featured image when it has none"
    );

    let wrapper = element_attributes(&html, "div").expect("the block's wrapper");
    assert_eq!(
        attribute(&wrapper, "data-tryon-loader"),
        format!("{CDN}widget.js")
    );
    assert!(
        wrapper.contains_key("data-shopify-editor-block"),
        "block.shopify_attributes: {wrapper:?}"
    );
}

#[test]
fn the_featured_image_setting_ignores_variants() {
    let globals = app_block_globals(shirt(&[], RED), block_settings("featured", "", ""), false);
    let html = render("blocks/try-on-button.liquid", &globals);
    let button = button_attributes(&html);
    assert_eq!(attribute(&button, "garment"), at_1024(BLUE));
    assert!(!button.contains_key("data-variant-images"), "{button:?}");
    assert!(
        !html.contains("application/json"),
        "no variant map is needed:\n{html}"
    );
}

#[test]
fn a_variant_without_an_image_falls_back_to_the_featured_image() {
    let mut product = shirt(&[], RED);
    if let Value::Object(fields) = &mut product {
        fields.insert(
            "selected_or_first_available_variant".into(),
            Value::Object(liquid::object!({ "id": 333, "featured_image": nil })),
        );
    }
    let globals = app_block_globals(product, block_settings("variant", "", ""), false);
    let button = button_attributes(&render("blocks/try-on-button.liquid", &globals));
    assert_eq!(attribute(&button, "garment"), at_1024(BLUE));
}

#[test]
fn the_hide_tag_turns_the_button_off_and_an_empty_tag_setting_does_not() {
    let tagged = shirt(&["summer", "no-try-on"], RED);
    let globals = app_block_globals(
        tagged.clone(),
        block_settings("variant", "", "no-try-on"),
        false,
    );
    let html = render("blocks/try-on-button.liquid", &globals);
    assert!(
        !html.contains("try-on-button"),
        "a tagged product must show no button:\n{html}"
    );
    assert!(
        !html.contains("tryon-variants"),
        "nor its variant map:\n{html}"
    );

    let globals = app_block_globals(tagged, block_settings("variant", "", ""), false);
    let html = render("blocks/try-on-button.liquid", &globals);
    assert!(
        html.contains("<try-on-button"),
        "an empty tag setting hides nothing:\n{html}"
    );

    let other_tag = shirt(&["summer"], RED);
    let globals = app_block_globals(other_tag, block_settings("variant", "", "no-try-on"), false);
    assert!(render("blocks/try-on-button.liquid", &globals).contains("<try-on-button"));
}

#[test]
fn a_custom_label_is_used_and_escaped() {
    let globals = app_block_globals(
        shirt(&[], RED),
        block_settings("variant", " Try <b>me</b> ", ""),
        false,
    );
    let html = render("blocks/try-on-button.liquid", &globals);
    assert!(
        !html.contains("<b>"),
        "markup in the label must be escaped:\n{html}"
    );
    assert_eq!(
        attribute(&button_attributes(&html), "label"),
        "Try <b>me</b>"
    );
}

#[test]
fn the_theme_editor_gets_design_mode() {
    let globals = app_block_globals(shirt(&[], RED), block_settings("variant", "", ""), true);
    let button = button_attributes(&render("blocks/try-on-button.liquid", &globals));
    assert_eq!(button.get("design-mode"), Some(&None), "{button:?}");
}

#[test]
fn a_product_without_images_leaves_the_garment_to_the_widget() {
    let product = Value::Object(liquid::object!({
        "title": "Gift card",
        "tags": [],
        "featured_image": nil,
        "selected_or_first_available_variant": { "id": 1, "featured_image": nil },
        "variants": [{ "id": 1, "featured_image": nil }],
    }));
    let globals = app_block_globals(product, block_settings("variant", "", ""), false);
    let html = render("blocks/try-on-button.liquid", &globals);
    let button = button_attributes(&html);
    assert!(
        !button.contains_key("garment"),
        "no garment attribute (the widget uses og:image): {button:?}"
    );
    assert_eq!(
        json_script(&html, "tryon-variants-B1"),
        serde_json::json!({ "1": null })
    );
}

#[test]
fn the_app_block_schema_targets_product_sections_with_the_documented_settings() {
    let (_, schema) = split_schema("blocks/try-on-button.liquid");
    assert_eq!(schema["target"], "section");
    assert_eq!(
        schema["enabled_on"]["templates"],
        serde_json::json!(["product"])
    );
    assert_eq!(schema["javascript"], "tryon-block.js");
    assert!(
        extension_path("assets/tryon-block.js").is_file(),
        "the schema's javascript must exist"
    );
    assert!(
        schema["name"].as_str().is_some_and(|name| name.len() < 25),
        "Shopify wants names under 25 characters"
    );
    assert_eq!(
        setting_ids(&schema),
        ["accent", "category", "garment_image", "hide_tag", "label"]
    );
    let categories: Vec<_> = schema["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|setting| setting["id"] == "category")
        .unwrap()["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|option| option["value"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        categories,
        ["auto", "upper", "lower", "full"],
        "the contract's categories a single image can use"
    );
    assert_schema_translations_exist(&schema);
}

fn setting_ids(schema: &Json) -> Vec<String> {
    let mut ids: Vec<String> = schema["settings"]
        .as_array()
        .expect("settings array")
        .iter()
        .map(|setting| setting["id"].as_str().expect("setting id").to_owned())
        .collect();
    ids.sort();
    ids
}

/// Every `t:` label in `schema` exists in every `locales/*.schema.json`.
fn assert_schema_translations_exist(schema: &Json) {
    let mut keys = Vec::new();
    collect_translation_keys(schema, &mut keys);
    assert!(!keys.is_empty(), "the schema should be translated");
    for locale in ["en.default", "fr", "de", "es"] {
        let table = read_json(&format!("locales/{locale}.schema.json"));
        for key in &keys {
            assert!(
                lookup(&table, key).is_some_and(Json::is_string),
                "locales/{locale}.schema.json has no `{key}`"
            );
        }
    }
}

fn collect_translation_keys(node: &Json, keys: &mut Vec<String>) {
    match node {
        Json::String(text) => keys.extend(text.strip_prefix("t:").map(str::to_owned)),
        Json::Array(items) => items
            .iter()
            .for_each(|item| collect_translation_keys(item, keys)),
        Json::Object(fields) => fields
            .values()
            .for_each(|value| collect_translation_keys(value, keys)),
        _ => {}
    }
}

// ---- the app embed ----------------------------------------------------------------------------

fn embed_globals(settings: Object, design_mode: bool) -> Object {
    liquid::object!({
        "product": shirt(&[], RED),
        "block": { "id": "E1", "settings": settings },
        "request": { "design_mode": design_mode, "locale": { "iso_code": "de" } },
        "template": { "name": "product" },
    })
}

fn embed_settings(proxy_url: &str, locale: &str, floating: bool) -> Object {
    liquid::object!({ "proxy_url": proxy_url, "locale": locale, "floating": floating, "accent": "#00aa00" })
}

#[test]
fn the_app_embed_loads_the_loader_with_the_shop_wide_settings() {
    let html = render(
        "blocks/tryon-embed.liquid",
        &embed_globals(embed_settings("", "auto", false), false),
    );
    let script =
        element_attributes(&html, "script").unwrap_or_else(|| panic!("no loader script:\n{html}"));
    assert_eq!(attribute(&script, "src"), format!("{CDN}widget.js"));
    assert_eq!(
        attribute(&script, "data-proxy"),
        "/apps/tryon",
        "an empty setting means the App Proxy path"
    );
    assert_eq!(
        attribute(&script, "data-locale"),
        "de",
        "auto follows the storefront's language"
    );
    assert!(
        script.contains_key("async") && script.contains_key("data-tryon-loader"),
        "{script:?}"
    );
    assert!(!script.contains_key("data-design-mode"), "{script:?}");
    assert_eq!(
        html.matches("<script").count(),
        1,
        "the loader is loaded once:\n{html}"
    );
    assert!(
        !html.contains("<try-on-button"),
        "no floating button unless asked:\n{html}"
    );
}

#[test]
fn the_app_embed_honours_an_explicit_proxy_locale_and_design_mode() {
    let settings = embed_settings("https://tryon.example.com", "es", false);
    let html = render("blocks/tryon-embed.liquid", &embed_globals(settings, true));
    let script = element_attributes(&html, "script").expect("loader script");
    assert_eq!(
        attribute(&script, "data-proxy"),
        "https://tryon.example.com"
    );
    assert_eq!(attribute(&script, "data-locale"), "es");
    assert_eq!(script.get("data-design-mode"), Some(&None), "{script:?}");
}

#[test]
fn the_floating_button_shows_the_products_featured_image() {
    let html = render(
        "blocks/tryon-embed.liquid",
        &embed_globals(embed_settings("", "auto", true), false),
    );
    let button = button_attributes(&html);
    assert_eq!(button.get("floating"), Some(&None), "{button:?}");
    assert_eq!(attribute(&button, "garment"), at_1024(BLUE));
    assert_eq!(attribute(&button, "category"), "auto");
    assert_eq!(attribute(&button, "style"), "--tryon-accent: #00aa00;");
    assert_eq!(
        attribute(&button, "proxy"),
        "/apps/tryon",
        "the embed's proxy setting"
    );
    assert_eq!(
        attribute(&button, "locale"),
        "de",
        "the embed's language setting"
    );
}

#[test]
fn the_app_embed_schema_targets_the_body() {
    let (_, schema) = split_schema("blocks/tryon-embed.liquid");
    assert_eq!(schema["target"], "body");
    assert_eq!(
        setting_ids(&schema),
        ["accent", "floating", "locale", "proxy_url"]
    );
    let proxy_default = schema["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|setting| setting["id"] == "proxy_url")
        .unwrap()["default"]
        .clone();
    assert_eq!(proxy_default, "/apps/tryon");
    assert_schema_translations_exist(&schema);
}
