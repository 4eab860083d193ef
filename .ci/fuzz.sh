#!/usr/bin/env bash
# cargo-fuzz smoke run: builds every target in fuzz/ (nightly) and runs each
# for FUZZ_SECONDS (default 30) seconds, one at a time, starting from the
# committed seed corpus in fuzz/corpus/<target>. New corpus entries go to a
# temporary directory, so the checkout stays clean; crashes, and inputs that
# run longer than FUZZ_TIMEOUT (default 30) seconds (a hang or livelock), land
# in fuzz/artifacts/<target>/ and fail the script.
#
# A long run of one target (as done once per target for the verification
# report): FUZZ_SECONDS=600 .ci/fuzz.sh, or
#   cd fuzz && cargo +nightly fuzz run <t> /tmp/corpus-<t> corpus/<t> -- -max_total_time=600
set -euo pipefail
cd "$(dirname "$0")/.."
# Flags or a target dir meant for another build (e.g. the loom cfgs) must not leak in.
unset RUSTFLAGS CARGO_TARGET_DIR CARGO_BUILD_TARGET_DIR

FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
TARGETS=(ops glob concurrent)

skip() {
  echo "=================================================================="
  echo "SKIPPED: fuzz: $*"
  echo "=================================================================="
  exit 0
}

command -v rustup >/dev/null 2>&1 || skip "rustup not found (cargo-fuzz needs a nightly toolchain)"
if ! cargo +nightly --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal >/dev/null 2>&1 \
    || skip "no nightly toolchain and it could not be installed"
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz (about 1-2 minutes)"
  cargo install cargo-fuzz --locked || skip "cargo-fuzz could not be installed"
fi

cd fuzz
start=$SECONDS
cargo +nightly fuzz build
echo "fuzz build: $((SECONDS - start)) s"
for t in "${TARGETS[@]}"; do
  work="$(mktemp -d)"
  mkdir -p "corpus/$t"
  echo "---- fuzz $t for ${FUZZ_SECONDS}s ----"
  t0=$SECONDS
  if ! cargo +nightly fuzz run "$t" "$work" "corpus/$t" -- \
    -max_total_time="$FUZZ_SECONDS" -timeout="${FUZZ_TIMEOUT:-30}" -print_final_stats=1 2>&1 \
    | { grep -Ev '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)' || true; }; then
    rm -rf "$work"
    echo "fuzz target $t FAILED (reproducer in fuzz/artifacts/$t/)"
    exit 1
  fi
  rm -rf "$work"
  echo "fuzz $t: $((SECONDS - t0)) s"
done
echo "fuzz total: $((SECONDS - start)) s"
