//! The `<try-on-button>` widget: Leptos UI, proxy client, photo-preparation bridge, i18n.
//!
//! Being written; this file exists so the workspace compiles while the modules land.
