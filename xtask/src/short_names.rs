//! Short names for the wasm imports and exports wasm-bindgen's glue refers to.
//!
//! wasm-bindgen names each import after its JS function plus a 16-hex-digit hash
//! (`__wbg_new_with_buffer_source_sequence_and_options_ea80baf2bc7ac33a`) and each closure shim
//! export after its whole Rust type (up to 339 characters). Every name is written twice, in the
//! wasm and in the glue, and the hashes do not compress: on the widget that was about 3 KiB of
//! the gzip bytes that must arrive before the dialog is usable. Renaming them to `a`, `b`, …
//! changes nothing else.
//!
//! The glue is only rewritten where it is unambiguous. An import is renamed only when its name
//! occurs once in the glue, as the key of the imports object (`name:`). An export is renamed
//! only when every occurrence is a property read `wasm.name`. Anything else keeps its name.

use std::collections::{BTreeMap, BTreeSet};

/// New names chosen for a module, and the glue that uses them.
#[derive(Debug, PartialEq, Eq)]
pub struct Renamed {
    pub js: String,
    pub imports: BTreeMap<String, String>,
    pub exports: BTreeMap<String, String>,
}

/// Picks short names for `imports` and `exports` (the module's field names) and rewrites `js`.
pub fn rename(js: &str, imports: &[String], exports: &[String]) -> Renamed {
    let words = identifiers(js);
    let taken: BTreeSet<&str> = imports
        .iter()
        .chain(exports)
        .map(String::as_str)
        .chain(words.iter().map(|word| word.text))
        .collect();
    let mut fresh = (0..)
        .map(short_name)
        .filter(|name| !taken.contains(name.as_str()));
    let mut renamed = Renamed {
        js: String::new(),
        imports: BTreeMap::new(),
        exports: BTreeMap::new(),
    };
    for name in imports {
        let uses: Vec<&Word> = words.iter().filter(|word| word.text == name).collect();
        if let [only] = uses[..]
            && js[only.end..].starts_with(':')
        {
            renamed
                .imports
                .insert(name.clone(), fresh.next().expect("endless"));
        }
    }
    for name in exports {
        let mut uses = words.iter().filter(|word| word.text == name).peekable();
        if uses.peek().is_some() && uses.all(|word| js[..word.start].ends_with("wasm.")) {
            renamed
                .exports
                .insert(name.clone(), fresh.next().expect("endless"));
        }
    }
    renamed.js = rewrite(js, &words, |text| {
        renamed
            .imports
            .get(text)
            .or_else(|| renamed.exports.get(text))
            .map(String::as_str)
    });
    renamed
}

/// `a`…`z`, `A`…`Z`, then two letters, and so on.
fn short_name(mut index: usize) -> String {
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut name = Vec::new();
    loop {
        name.push(LETTERS[index % LETTERS.len()]);
        index /= LETTERS.len();
        if index == 0 {
            break;
        }
        index -= 1;
    }
    String::from_utf8(name).expect("ASCII letters")
}

/// One JS identifier-like word and where it is.
struct Word<'a> {
    text: &'a str,
    start: usize,
    end: usize,
}

/// Every maximal run of identifier characters (`[A-Za-z0-9_$]`). Runs inside strings and
/// comments count too, which only makes [`rename`] more careful.
fn identifiers(js: &str) -> Vec<Word<'_>> {
    let is_part = |byte: u8| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'$';
    let bytes = js.as_bytes();
    let mut words = Vec::new();
    let mut start = None;
    for (index, &byte) in bytes.iter().chain(b" ").enumerate() {
        match (start, is_part(byte)) {
            (None, true) => start = Some(index),
            (Some(from), false) => {
                words.push(Word {
                    text: &js[from..index],
                    start: from,
                    end: index,
                });
                start = None;
            }
            _ => {}
        }
    }
    words
}

fn rewrite<'a>(js: &str, words: &[Word<'_>], new_name: impl Fn(&str) -> Option<&'a str>) -> String {
    let mut out = String::with_capacity(js.len());
    let mut copied = 0;
    for word in words {
        if let Some(name) = new_name(word.text) {
            out.push_str(&js[copied..word.start]);
            out.push_str(name);
            copied = word.end;
        }
    }
    out.push_str(&js[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| name.to_string()).collect()
    }

    const GLUE: &str = "function f() {
    const import0 = {
        __wbg_append_0123456789abcdef: function(a, b) { a.append(b); },
        __wbg_log_fedcba9876543210: function(a) { console.log(a); },
    };
    return wasm.mount_shim_long(wasm.memory, '__wbg_log_fedcba9876543210');
}
export function mount() { wasm.__wbindgen_start(); return wasm.mount_shim_long(); }";

    #[test]
    fn renames_imports_keyed_once_and_exports_only_read_through_wasm() {
        let renamed = rename(
            GLUE,
            &names(&[
                "__wbg_append_0123456789abcdef",
                "__wbg_log_fedcba9876543210",
            ]),
            &names(&["mount_shim_long", "memory", "__wbindgen_start", "mount"]),
        );
        assert_eq!(
            renamed.imports,
            BTreeMap::from([("__wbg_append_0123456789abcdef".into(), "c".into())]),
            "the log import also occurs in a string, so it keeps its name; `a` and `b` are \
             the glue's own parameter names"
        );
        assert_eq!(
            renamed.exports,
            BTreeMap::from([
                ("mount_shim_long".into(), "d".into()),
                ("memory".into(), "e".into()),
                ("__wbindgen_start".into(), "g".into()),
            ]),
            "`mount` is also a JS function name; `f` is taken by the glue"
        );
        assert!(renamed.js.contains("        c: function(a, b)"));
        assert!(
            renamed
                .js
                .contains("return wasm.d(wasm.e, '__wbg_log_fedcba9876543210');")
        );
        assert!(
            renamed
                .js
                .contains("export function mount() { wasm.g(); return wasm.d(); }")
        );
    }

    #[test]
    fn short_names_never_repeat() {
        let first: Vec<String> = (0..3000).map(short_name).collect();
        let distinct: BTreeSet<&String> = first.iter().collect();
        assert_eq!(distinct.len(), first.len());
        assert_eq!((first[0].as_str(), first[51].as_str()), ("a", "Z"));
        assert_eq!((first[52].as_str(), first[53].as_str()), ("aa", "ba"));
    }
}
