//! The result as a file: its name for **Download** and **Share**, and the Web Share API.
//!
//! Sharing a file is "Web Share level 2", which many desktop browsers lack entirely
//! (`navigator.canShare` is undefined), so it is probed before any call: calling a missing
//! method from wasm would throw across the boundary.

use js_sys::{Array, Reflect};
use wasm_bindgen::JsValue;
use web_sys::{Blob, File, FilePropertyBag, Navigator, ShareData};

/// `classic-cotton-tee-try-on.jpg`: the product's name as a file name a shopper recognises in
/// her downloads, the extension from the image's type.
pub fn file_name(product: Option<&str>, content_type: &str) -> String {
    let extension = match content_type.split(';').next().unwrap_or("").trim() {
        "image/png" => "png",
        "image/webp" => "webp",
        _ => "jpg",
    };
    let mut stem = String::new();
    // ASCII rules only (Unicode case and letter tables would add kilobytes to the wasm): every
    // ASCII letter or digit is kept, lowercased, every other ASCII character (path separators,
    // punctuation, controls) becomes one dash, and other scripts are kept as written, except
    // invisible controls that could disguise the extension.
    for c in product.unwrap_or("").chars() {
        if c.is_ascii_alphanumeric() {
            stem.push(c.to_ascii_lowercase());
        } else if !c.is_ascii() && !is_invisible(c) {
            stem.push(c);
        } else if !stem.is_empty() && !stem.ends_with('-') {
            stem.push('-');
        }
        if stem.chars().count() >= 60 {
            break;
        }
    }
    let stem = stem.trim_end_matches('-');
    if stem.is_empty() {
        format!("try-on.{extension}")
    } else {
        format!("{stem}-try-on.{extension}")
    }
}

/// C1 controls and the bidirectional overrides (U+202E would show `gpj.exe` as `exe.jpg`).
fn is_invisible(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// Whether this browser can share `blob` as a file named `name`.
pub fn can_share(blob: &Blob, name: &str) -> bool {
    let Some(navigator) = navigator_with("canShare") else {
        return false;
    };
    data(blob, name, "").is_some_and(|data| navigator.can_share_with_data(&data))
}

/// Opens the system's share sheet with the result. A shopper closing the sheet rejects the
/// promise; that is her choice, not an error.
pub fn share(blob: &Blob, name: &str, title: &str) {
    let (Some(navigator), Some(data)) = (navigator_with("share"), data(blob, name, title)) else {
        return;
    };
    let shared = navigator.share_with_data(&data);
    crate::spawn(async move {
        let _ = wasm_bindgen_futures::JsFuture::from(shared).await;
    });
}

fn navigator_with(method: &str) -> Option<Navigator> {
    let navigator = web_sys::window()?.navigator();
    Reflect::get(&navigator, &JsValue::from_str(method))
        .ok()?
        .is_function()
        .then_some(navigator)
}

fn data(blob: &Blob, name: &str, title: &str) -> Option<ShareData> {
    let options = FilePropertyBag::new();
    options.set_type(&blob.type_());
    let file = File::new_with_blob_sequence_and_options(&Array::of1(blob), name, &options).ok()?;
    let data = ShareData::new();
    data.set_files(&Array::of1(&file));
    if !title.is_empty() {
        data.set_title(title);
    }
    Some(data)
}

#[cfg(test)]
mod tests {
    use super::file_name;

    #[test]
    fn file_names_carry_the_product_and_the_image_type() {
        assert_eq!(
            file_name(Some("Classic Cotton Tee"), "image/jpeg"),
            "classic-cotton-tee-try-on.jpg"
        );
        assert_eq!(
            file_name(Some("  Linen shirt / Blue  "), "image/png"),
            "linen-shirt-blue-try-on.png"
        );
        assert_eq!(
            file_name(Some("Chemise à carreaux"), "image/webp; q=1"),
            "chemise-à-carreaux-try-on.webp"
        );
        assert_eq!(file_name(Some("試着 シャツ"), ""), "試着-シャツ-try-on.jpg");
    }

    #[test]
    fn file_names_never_carry_path_characters_or_run_long() {
        assert_eq!(file_name(None, "image/jpeg"), "try-on.jpg");
        assert_eq!(
            file_name(Some("../../etc/passwd"), "image/jpeg"),
            "etc-passwd-try-on.jpg"
        );
        assert_eq!(file_name(Some("***"), "image/jpeg"), "try-on.jpg");
        assert_eq!(
            file_name(Some("photo\u{202e}gpj.exe"), "image/jpeg"),
            "photo-gpj-exe-try-on.jpg"
        );
        let long = file_name(Some(&"x".repeat(500)), "image/jpeg");
        assert!(long.chars().count() <= 60 + "-try-on.jpg".len(), "{long}");
    }
}
