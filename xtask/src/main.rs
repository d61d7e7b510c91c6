//! `cargo xtask`: the project's build automation, so a fresh clone needs nothing but cargo.

fn main() {
    eprintln!("usage: cargo xtask <demo|test|dist|bench>");
    std::process::exit(2);
}
