#!/usr/bin/env bash
# Bounded loom model checking of the cache core (loom-tests/), against the
# real src/ code through its sync shim. Stable toolchain; no nightly needed.
#
# LOOM_MAX_PREEMPTIONS (default 2) bounds every model; the 3-thread and the
# heaviest models cap themselves at 1 (see loom-tests/tests/races.rs).
# Each model prints "loom model <name> preemptions=P iterations=N time=Ts".
# Uses its own target dir (target/loom) so the normal build is not rebuilt.
set -euo pipefail
cd "$(dirname "$0")/.."

skip() {
  echo "=================================================================="
  echo "SKIPPED: loom: $*"
  echo "=================================================================="
  exit 0
}

command -v cargo >/dev/null 2>&1 || skip "cargo not found"
[ -d loom-tests ] || skip "no loom-tests/ crate"

export CARGO_TARGET_DIR="${LOOM_TARGET_DIR:-target/loom}"
# --cfg crossbeam_loom is what makes crossbeam-epoch itself loom-aware;
# without it every model would "pass" after one iteration (the library has a
# compile_error! guard). crossbeam_sanitize shrinks its bags to 4 objects.
export RUSTFLAGS="--cfg clockcache_loom --cfg crossbeam_loom --cfg crossbeam_sanitize"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"

start=$SECONDS
cargo test --release -p loom-tests -- --nocapture --test-threads="${LOOM_TEST_THREADS:-2}"
echo "loom suite: $((SECONDS - start)) s (LOOM_MAX_PREEMPTIONS=$LOOM_MAX_PREEMPTIONS)"
