//! Keeps the repository's `Dockerfile` honest where no container engine runs (here, CI).
//!
//! It reads the Dockerfile and `.dockerignore` and compares them with what they package:
//! the runtime stage's `ENV` names are ones the proxy reads (its command line's environment
//! variables, from `config::Cli` itself), `ENTRYPOINT` runs the proxy crate's binary (its
//! `[[bin]]` name), the runtime stage runs as a user other than root, everything it copies
//! from the build stage is written there, the build stage copies the widget from where
//! `cargo xtask dist` writes it (the proxy's default assets dir) after installing what
//! `xtask dist` needs (Node, npm, `npm ci`) and the toolchain `rust-toolchain.toml` names, and
//! the build context leaves out build output and installed packages.
//!
//! What it cannot check: that the image builds (base images pulled, apt, npm and crates.io
//! reachable, the build succeeding on that base) or that the container starts and serves.
//! Both take `docker build` and `docker run`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use tryon_proxy::config::{Cli, Settings};

/// One instruction: its keyword (upper case) and its arguments, continuation lines joined.
#[derive(Debug)]
struct Instruction {
    keyword: String,
    arguments: String,
}

/// The instructions from one `FROM` to the next.
#[derive(Debug)]
struct Stage {
    name: Option<String>,
    instructions: Vec<Instruction>,
}

impl Stage {
    fn all<'a>(&'a self, keyword: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.instructions
            .iter()
            .filter(move |instruction| instruction.keyword == keyword)
            .map(|instruction| instruction.arguments.as_str())
    }

    /// The shell commands of its `RUN`s, split at `&&`, in order.
    fn commands(&self) -> Vec<Vec<&str>> {
        self.all("RUN")
            .flat_map(|run| run.split("&&"))
            .map(|command| command.split_whitespace().collect())
            .collect()
    }

    /// Index of the first command starting with `words`.
    fn position(&self, words: &[&str]) -> Option<usize> {
        self.commands()
            .iter()
            .position(|command| command.starts_with(words))
    }

    /// What its `COPY --from=<from>` instructions copy: (source, destination).
    fn copies_from(&self, from: &str) -> Vec<(String, String)> {
        let flag = format!("--from={from}");
        self.all("COPY")
            .filter(|copy| copy.split_whitespace().any(|word| word == flag))
            .map(|copy| {
                let paths: Vec<&str> = copy
                    .split_whitespace()
                    .filter(|word| !word.starts_with("--"))
                    .collect();
                assert_eq!(paths.len(), 2, "COPY with one source expected: {copy}");
                (paths[0].to_owned(), paths[1].to_owned())
            })
            .collect()
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the proxy crate sits in the workspace")
        .to_path_buf()
}

fn read(relative: &str) -> String {
    let path = repo_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("reading {path:?}: {error}"))
}

/// The Dockerfile's stages, with comments dropped and `\` continuations joined.
fn stages() -> Vec<Stage> {
    let mut joined = Vec::new();
    let mut pending = String::new();
    for line in read("Dockerfile").lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && pending.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(start) => pending.push_str(start),
            None => {
                pending.push_str(line);
                joined.push(std::mem::take(&mut pending));
            }
        }
    }
    let mut stages: Vec<Stage> = Vec::new();
    for line in joined {
        let (keyword, arguments) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let keyword = keyword.to_ascii_uppercase();
        if keyword == "FROM" {
            let words: Vec<&str> = arguments.split_whitespace().collect();
            let name = match words.as_slice() {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some((*name).to_owned()),
                _ => None,
            };
            stages.push(Stage {
                name,
                instructions: Vec::new(),
            });
            continue;
        }
        stages
            .last_mut()
            .unwrap_or_else(|| panic!("{keyword} before any FROM in the Dockerfile"))
            .instructions
            .push(Instruction {
                keyword,
                arguments: arguments.trim().to_owned(),
            });
    }
    assert!(
        stages.len() >= 2,
        "a multi-stage Dockerfile (build, runtime) expected, found {} stage(s)",
        stages.len()
    );
    stages
}

/// The build stage (named, copied from by the runtime stage) and the runtime stage (the last).
fn build_and_runtime(stages: &[Stage]) -> (&Stage, &Stage) {
    let runtime = stages.last().unwrap();
    let build = stages
        .iter()
        .find(|stage| {
            stage
                .name
                .as_deref()
                .is_some_and(|name| !runtime.copies_from(name).is_empty())
        })
        .expect("the runtime stage copies from a named build stage");
    (build, runtime)
}

/// The proxy binary's name, from `[[bin]]` in proxy/Cargo.toml.
fn proxy_bin_name() -> String {
    let manifest: toml::Table = read("proxy/Cargo.toml").parse().expect("proxy/Cargo.toml");
    let bins = manifest["bin"]
        .as_array()
        .expect("[[bin]] in proxy/Cargo.toml");
    assert_eq!(bins.len(), 1, "one binary expected: {bins:?}");
    bins[0]["name"].as_str().expect("the bin's name").to_owned()
}

/// `ENV A=1 B=2` as (name, value) pairs.
fn env_pairs(stage: &Stage) -> Vec<(String, String)> {
    stage
        .all("ENV")
        .flat_map(str::split_whitespace)
        .map(|pair| {
            let (name, value) = pair
                .split_once('=')
                .unwrap_or_else(|| panic!("ENV in NAME=value form expected, got {pair:?}"));
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

#[test]
fn the_runtime_environment_names_only_variables_the_proxy_reads() {
    let stages = stages();
    let (_, runtime) = build_and_runtime(&stages);
    let read_by_proxy: BTreeSet<String> = Cli::command()
        .get_arguments()
        .filter_map(|argument| argument.get_env())
        .map(|name| name.to_string_lossy().into_owned())
        .collect();
    assert!(
        read_by_proxy.contains("TRYON_LISTEN"),
        "the proxy's environment variables were not found: {read_by_proxy:?}"
    );
    let set = env_pairs(runtime);
    assert!(!set.is_empty(), "the runtime stage sets no ENV");
    for (name, _) in &set {
        assert!(
            read_by_proxy.contains(name),
            "the Dockerfile sets {name}, which the proxy does not read; it reads {read_by_proxy:?}"
        );
    }
}

#[test]
fn the_image_runs_the_proxy_binary_as_a_user_other_than_root() {
    let stages = stages();
    let (build, runtime) = build_and_runtime(&stages);
    let entrypoint = runtime.all("ENTRYPOINT").last().expect("an ENTRYPOINT");
    let argv: Vec<String> = serde_json::from_str(entrypoint).unwrap_or_else(|_| {
        panic!("ENTRYPOINT in exec (JSON) form, so SIGTERM reaches the proxy: {entrypoint}")
    });
    let binary = &argv[0];
    let bin_name = proxy_bin_name();
    assert_eq!(
        Path::new(binary).file_name().and_then(|name| name.to_str()),
        Some(bin_name.as_str()),
        "ENTRYPOINT {binary} is not the proxy crate's binary {bin_name}"
    );
    let build_name = build.name.as_deref().unwrap();
    let (copied, _) = runtime
        .copies_from(build_name)
        .into_iter()
        .find(|(_, destination)| destination == binary)
        .unwrap_or_else(|| panic!("nothing is copied to the ENTRYPOINT {binary}"));
    let built = format!("target/release/{bin_name}");
    assert!(
        build
            .commands()
            .iter()
            .any(|command| command.first() == Some(&"cp")
                && command.contains(&built.as_str())
                && command.last() == Some(&copied.as_str())),
        "the build stage must copy {built} (what `cargo build --release -p tryon-proxy` writes) to {copied}"
    );
    let user = runtime
        .all("USER")
        .last()
        .expect("a USER in the runtime stage");
    let account = user.split(':').next().unwrap_or_default();
    assert!(
        !matches!(account, "root" | "0"),
        "the image must not run as root: USER {user}"
    );
}

#[test]
fn what_the_runtime_copies_is_what_the_build_stage_writes_where_dist_writes_it() {
    let stages = stages();
    let (build, runtime) = build_and_runtime(&stages);
    let commands = build.commands();
    // The build stage's outputs: what its `cp` and `mkdir` commands write.
    let written: BTreeSet<&str> = commands
        .iter()
        .filter(|command| matches!(command.first(), Some(&"cp") | Some(&"mkdir")))
        .flat_map(|command| match command[0] {
            "cp" => command.last().into_iter().copied().collect::<Vec<_>>(),
            _ => command[1..]
                .iter()
                .copied()
                .filter(|word| !word.starts_with('-'))
                .collect(),
        })
        .collect();
    let copies = runtime.copies_from(build.name.as_deref().unwrap());
    for (source, destination) in &copies {
        assert!(
            written.contains(source.as_str()),
            "the runtime copies {source} to {destination}, which the build stage does not write \
             (it writes {written:?})"
        );
    }
    // The folders the proxy is pointed at are in the image, filled from where they are built.
    let defaults = Settings::from_cli(Cli::default()).expect("the default settings");
    let env = env_pairs(runtime);
    let value = |name: &str| {
        env.iter()
            .find(|(set, _)| set == name)
            .map(|(_, value)| value.clone())
            .unwrap_or_else(|| panic!("the runtime stage sets no {name}"))
    };
    for (variable, built_at) in [
        ("TRYON_ASSETS_DIR", &defaults.assets_dir),
        ("TRYON_WWW_DIR", &defaults.www_dir),
    ] {
        let in_image = value(variable);
        let (staged, _) = copies
            .iter()
            .find(|(_, destination)| *destination == in_image)
            .unwrap_or_else(|| panic!("{variable}={in_image}, but nothing is copied there"));
        let built_at = built_at.to_str().unwrap();
        assert!(
            commands.iter().any(|command| command.first() == Some(&"cp")
                && command.contains(&built_at)
                && command.last() == Some(&staged.as_str())),
            "{variable}={in_image} must hold {built_at} (the proxy's default, where it is built), \
             copied to {staged} in the build stage"
        );
    }
    let data = value("TRYON_DATA_DIR");
    assert!(
        copies.iter().any(|(_, destination)| *destination == data),
        "TRYON_DATA_DIR={data} must exist in the image (owned by its user)"
    );
    // `cargo xtask dist` optimises and minifies with npm's binaryen and esbuild: Node and the
    // locked packages must be there before it runs, and the widget copied after.
    let dist = build
        .position(&["cargo", "xtask", "dist"])
        .expect("the build stage runs `cargo xtask dist`");
    let npm_ci = build
        .position(&["npm", "ci"])
        .expect("the build stage installs the npm packages from the lockfile (`npm ci`)");
    let node = build
        .position(&["apt-get", "install"])
        .filter(|&at| commands[at].contains(&"nodejs") && commands[at].contains(&"npm"))
        .expect("the build stage installs nodejs and npm (rust images have no Node)");
    assert!(
        node < npm_ci && npm_ci < dist,
        "Node ({node}), then `npm ci` ({npm_ci}), then `cargo xtask dist` ({dist})"
    );
    let lockfile_copied = build.all("COPY").any(|copy| {
        copy.split_whitespace()
            .any(|word| word == "package-lock.json")
    });
    assert!(
        lockfile_copied,
        "`npm ci` needs package-lock.json copied in first"
    );
}

#[test]
fn the_build_stage_installs_the_toolchain_rust_toolchain_toml_names() {
    let stages = stages();
    let (build, _) = build_and_runtime(&stages);
    let pinned: toml::Table = read("rust-toolchain.toml")
        .parse()
        .expect("rust-toolchain.toml");
    let channel = pinned["toolchain"]["channel"].as_str().expect("a channel");
    let commands = build.commands();
    let install = commands
        .iter()
        .find(|command| command.starts_with(&["rustup", "toolchain", "install"]))
        .expect("the build stage installs the toolchain with rustup");
    assert!(
        install.contains(&channel),
        "rust-toolchain.toml names {channel}; the build stage installs {install:?}"
    );
    for target in pinned["toolchain"]["targets"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let target = target.as_str().unwrap();
        assert!(
            install.contains(&target),
            "the toolchain needs the {target} target: {install:?}"
        );
    }
    // `cargo xtask dist` rebuilds std for the wasm modules (-Z build-std) from its sources.
    assert!(
        install
            .windows(2)
            .any(|pair| pair == ["--component", "rust-src"]),
        "the toolchain needs the rust-src component: {install:?}"
    );
}

#[test]
fn the_build_context_leaves_out_build_output_and_installed_packages() {
    let ignored: BTreeSet<String> = read(".dockerignore")
        .lines()
        .map(|line| line.trim().trim_start_matches('/').trim_end_matches('/'))
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect();
    // node_modules especially: `COPY . .` must not replace the ones `npm ci` installed.
    for needed in ["target", "node_modules", "data"] {
        assert!(
            ignored.contains(needed),
            ".dockerignore must leave out {needed}: {ignored:?}"
        );
    }
}
