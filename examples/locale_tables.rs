//! Writes every locale's sentences but English's (compiled into the wasm) as a JSON list in
//! `Key::ALL`'s order, one `<tag>.json` per locale, into the folder given as the only argument.
//! `cargo xtask dist` ships them beside the wasm; the loader fetches the page's one.

use std::path::PathBuf;

use tryon_widget::i18n::Locale;

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(
        std::env::args_os()
            .nth(1)
            .expect("usage: locale_tables <output folder>"),
    );
    std::fs::create_dir_all(&dir)?;
    for locale in Locale::ALL.into_iter().filter(|l| *l != Locale::En) {
        let json = serde_json::to_string(&locale.table()).expect("strings always serialise");
        std::fs::write(dir.join(format!("{}.json", locale.tag())), json)?;
    }
    Ok(())
}
