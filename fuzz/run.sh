#!/bin/sh
# Runs every fuzz target for a bounded time (default 60 s each) and reports what it found.
# Needs nightly and cargo-fuzz (`cargo install cargo-fuzz`). Not part of CI.
# Crashes land in fuzz/artifacts/<target>/; commit minimised ones as regression inputs.
set -eu
seconds="${1:-60}"
cd "$(dirname "$0")"
# The proxy links SQLite's amalgamation (rusqlite, bundled), whose same-named static arrays
# ASan reports as an ODR violation at start-up; that is not a finding in our code.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_odr_violation=0}"
for target in multipart_decode sse_event app_proxy_query; do
    mkdir -p "corpus/$target" "artifacts/$target"
    echo "== $target: ${seconds}s"
    cargo +nightly fuzz run "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="artifacts/$target/"
done
