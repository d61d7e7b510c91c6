//! The tables the loader fetched for the page (every locale but English, which the wasm carries).
//!
//! Views hold sentences as `&'static str`, so a registered table is leaked once and kept for the
//! page's life: at most one per locale (five, a few KB each), however many widgets mount.

use std::cell::RefCell;

use super::{Key, Locale};

thread_local! {
    static TABLES: RefCell<Vec<(Locale, &'static [&'static str])>> = const { RefCell::new(Vec::new()) };
}

/// Keeps `sentences` (in [`Key::ALL`]'s order) as `locale`'s table. A list of the wrong length
/// (a table from another release) is refused, and the widget speaks English; a locale already
/// registered keeps its first table.
pub fn register(locale: Locale, sentences: Vec<String>) -> bool {
    if sentences.len() != Key::ALL.len() {
        return false;
    }
    TABLES.with_borrow_mut(|tables| {
        if !tables.iter().any(|(known, _)| *known == locale) {
            let leaked: Vec<&'static str> = sentences
                .into_iter()
                .map(|sentence| &*Box::leak(sentence.into_boxed_str()))
                .collect();
            tables.push((locale, Box::leak(leaked.into_boxed_slice())));
        }
        true
    })
}

/// `locale`'s sentence for `key`, if its table was registered.
pub fn text(locale: Locale, key: Key) -> Option<&'static str> {
    TABLES.with_borrow(|tables| {
        let (_, table) = tables.iter().find(|(known, _)| *known == locale)?;
        table.get(key as usize).copied()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(prefix: &str) -> Vec<String> {
        Key::ALL
            .iter()
            .map(|key| format!("{prefix} {key:?}"))
            .collect()
    }

    #[test]
    fn a_registered_table_answers_by_key() {
        assert_eq!(text(Locale::Ja, Key::Close), None);
        assert!(register(Locale::Ja, table("ja")));
        assert_eq!(text(Locale::Ja, Key::Close), Some("ja Close"));
        assert_eq!(
            text(Locale::Ja, Key::IssueMayDisappoint),
            Some("ja IssueMayDisappoint")
        );
        assert_eq!(text(Locale::De, Key::Close), None);
    }

    #[test]
    fn the_first_table_of_a_locale_stays() {
        assert!(register(Locale::Fr, table("first")));
        assert!(register(Locale::Fr, table("second")));
        assert_eq!(text(Locale::Fr, Key::Done), Some("first Done"));
    }

    #[test]
    fn a_table_of_the_wrong_length_is_refused() {
        let mut short = table("es");
        short.pop();
        assert!(!register(Locale::Es, short));
        assert_eq!(text(Locale::Es, Key::Done), None);
    }
}
