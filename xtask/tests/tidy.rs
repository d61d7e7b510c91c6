//! The house rules ARCHITECTURE.md states, checked over the source tree (in the manner of
//! rust-analyzer's `tidy`): a rule that only a reviewer remembers is a rule that drifts.
//!
//! Each check reads the files and names every offender with what to do about it.

use std::path::{Path, PathBuf};

/// The crates' own source folders (tests and examples aside).
const SOURCE_DIRS: [&str; 5] = ["proxy/src", "src", "photo/src", "fakes/src", "xtask/src"];

/// Longest a source file may be before its `#[cfg(test)]` module.
const MAX_LINES: usize = 600;

/// Files over [`MAX_LINES`] today, each with the length it may not exceed: they may only
/// shrink, and leave this list once they are under the limit (issue 15 splits them).
const TOO_LONG_TODAY: [(&str, usize); 9] = [
    ("proxy/src/registry/mod.rs", 1250),
    ("proxy/src/store/redis.rs", 921),
    ("src/state.rs", 826),
    ("src/controller.rs", 825),
    ("xtask/src/dist.rs", 760),
    ("xtask/src/samples.rs", 770),
    ("proxy/src/config.rs", 690),
    ("proxy/src/providers/local/compose.rs", 622),
    ("fakes/src/vtryon.rs", 601),
];

/// `proxy/src`'s modules from the ground up (ARCHITECTURE.md, "Layers"): a module imports only
/// modules of lower layers, never its own layer or a higher one, so no import runs back up and
/// no circle can form. A new module gets its place here.
const PROXY_LAYERS: [&[&str]; 10] = [
    &["wire", "decode_gate", "garment_fetch", "metrics"],
    &["error", "job", "sse"],
    &["abuse", "images", "shopify", "upload"],
    &["cors", "garments", "serving", "store"],
    &["idempotency", "providers", "recent"],
    &["config", "kept_photos", "registry"],
    &["access_log", "state"],
    &["api", "assets", "metrics_endpoint", "photos"],
    &["app", "create", "events"],
    &["openapi"],
];

/// Words only a vendor's adapter may write.
const VENDOR_NAMES: [&str; 4] = ["fitroom", "tryiton", "vtryon", "fitinview"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_path_buf()
}

/// Every `.rs` file under `dir` (relative to the workspace), with its text, sorted by path.
fn rust_files(dir: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut pending = vec![root().join(dir)];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                let relative = path.strip_prefix(root()).unwrap();
                found.push((relative.to_string_lossy().replace('\\', "/"), text));
            }
        }
    }
    found.sort();
    found
}

/// The part of a file before its test module (a `#[cfg(test)]` at the start of a line; an
/// indented one marks a test-only item, not the module): what ships.
fn shipped(text: &str) -> &str {
    if text.starts_with("#[cfg(test)]") {
        return "";
    }
    text.find("\n#[cfg(test)]").map_or(text, |at| &text[..at])
}

/// A file that is itself a test module (`mod tests;` in a file of its own).
fn is_test_file(path: &str) -> bool {
    path.ends_with("/tests.rs") || path.contains("/tests/")
}

#[test]
fn every_module_starts_by_saying_why_it_exists() {
    let silent: Vec<String> = SOURCE_DIRS
        .iter()
        .flat_map(|dir| rust_files(dir))
        .filter(|(_, text)| !text.starts_with("//!"))
        .map(|(path, _)| path)
        .collect();
    assert!(
        silent.is_empty(),
        "these files do not start with a `//!` line saying why they exist: {silent:#?}"
    );
}

#[test]
fn problem_json_is_made_in_error_rs_only() {
    let makers: Vec<String> = rust_files("proxy/src")
        .into_iter()
        .filter(|(path, _)| path != "proxy/src/error.rs" && !is_test_file(path))
        .filter(|(_, text)| {
            shipped(text)
                .lines()
                .any(|line| line.contains("Problem {") && !line.contains("struct Problem"))
        })
        .map(|(path, _)| path)
        .collect();
    assert!(
        makers.is_empty(),
        "these files build a `Problem` themselves; add an `ApiError` variant instead, so \
         problem+json is made in one place: {makers:#?}"
    );
}

#[test]
fn vendors_are_named_only_under_providers() {
    let mut found = Vec::new();
    for (path, text) in rust_files("proxy/src") {
        if path.starts_with("proxy/src/providers/") || is_test_file(&path) {
            continue;
        }
        for (number, line) in shipped(&text).lines().enumerate() {
            let lower = line.to_lowercase();
            if let Some(name) = VENDOR_NAMES.iter().find(|name| lower.contains(*name)) {
                found.push(format!("{path}:{}: {name}: {}", number + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "nothing outside proxy/src/providers/ may know a vendor; move these there: {found:#?}"
    );
}

#[test]
fn source_files_stay_readable_in_one_sitting() {
    let mut over = Vec::new();
    for (path, text) in SOURCE_DIRS.iter().flat_map(|dir| rust_files(dir)) {
        let lines = shipped(&text).lines().count();
        let allowed = TOO_LONG_TODAY
            .iter()
            .find(|(listed, _)| *listed == path)
            .map_or(MAX_LINES, |(_, ceiling)| *ceiling);
        if lines > allowed {
            over.push(format!(
                "{path}: {lines} lines before its tests (at most {allowed})"
            ));
        }
    }
    assert!(
        over.is_empty(),
        "split these files (a folder of modules, each under {MAX_LINES} lines): {over:#?}"
    );
    let shrunk: Vec<&str> = TOO_LONG_TODAY
        .iter()
        .filter(|(path, _)| {
            let text = std::fs::read_to_string(root().join(path)).unwrap_or_default();
            shipped(&text).lines().count() <= MAX_LINES
        })
        .map(|(path, _)| *path)
        .collect();
    assert!(
        shrunk.is_empty(),
        "these files are short enough now (or gone): take them off TOO_LONG_TODAY: {shrunk:#?}"
    );
}

/// The `proxy/src` module a file belongs to: its file name, or its folder's.
fn proxy_module(path: &str) -> &str {
    let inner = path.strip_prefix("proxy/src/").unwrap_or(path);
    let first = inner.split('/').next().unwrap_or(inner);
    first.strip_suffix(".rs").unwrap_or(first)
}

fn layer_of(module: &str) -> Option<usize> {
    PROXY_LAYERS
        .iter()
        .position(|layer| layer.contains(&module))
}

#[test]
fn proxy_modules_import_only_lower_layers() {
    let mut wrong = Vec::new();
    for (path, text) in rust_files("proxy/src") {
        let module = proxy_module(&path);
        if matches!(module, "lib" | "main") || is_test_file(&path) {
            continue;
        }
        let Some(own) = layer_of(module) else {
            wrong.push(format!(
                "{path}: module `{module}` has no place in PROXY_LAYERS"
            ));
            continue;
        };
        for (number, line) in shipped(&text).lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for (at, _) in line.match_indices("crate::") {
                let rest = &line[at + "crate::".len()..];
                let imported: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if imported.is_empty() || imported == module {
                    continue;
                }
                match layer_of(&imported) {
                    Some(theirs) if theirs < own => {}
                    Some(theirs) => wrong.push(format!(
                        "{path}:{}: `{module}` (layer {}) imports `{imported}` (layer {})",
                        number + 1,
                        own + 1,
                        theirs + 1
                    )),
                    None => wrong.push(format!(
                        "{path}:{}: `{imported}` has no place in PROXY_LAYERS",
                        number + 1
                    )),
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports must point down the layers of ARCHITECTURE.md; move the code or the \
         module: {wrong:#?}"
    );
}
