#!/usr/bin/env bash
# Sanitizer runs of the test suite (nightly): AddressSanitizer, ThreadSanitizer
# (with -Zbuild-std) and Miri with Tree Borrows. Each part checks for its
# toolchain pieces, tries to install them, and prints "SKIPPED: <reason>"
# (without failing) when they cannot be had; a part that runs and fails makes
# the script exit non-zero after the other parts have run.
#
# Knobs: SANITIZERS="asan tsan miri" (which parts), MIRI_CACHE_TESTS=1 (also
# run tests/cache.rs under Miri; default 1), MIRI_TIMEOUT (seconds, default
# 900) for the Miri integration test run.
set -euo pipefail
cd "$(dirname "$0")/.."
# Flags or a target dir meant for another build (e.g. the loom cfgs) must not leak in.
unset RUSTFLAGS CARGO_TARGET_DIR CARGO_BUILD_TARGET_DIR

TARGET=x86_64-unknown-linux-gnu
PARTS="${SANITIZERS:-asan tsan miri}"
failed=()

banner() { printf '\n==== sanitizers: %s ====\n' "$1"; }
skipped() {
  echo "=================================================================="
  echo "SKIPPED: $*"
  echo "=================================================================="
}
has_nightly() { cargo +nightly --version >/dev/null 2>&1; }
component() {
  # component NAME: present, or added now.
  rustup +nightly component list --installed 2>/dev/null | grep -q "^$1" \
    || rustup +nightly component add "$1" >/dev/null 2>&1
}
timed() {
  # timed NAME CMD...: runs CMD, records a failure, prints the time.
  local name=$1; shift
  local t0=$SECONDS
  if "$@"; then
    echo "$name: passed in $((SECONDS - t0)) s"
  else
    echo "$name: FAILED after $((SECONDS - t0)) s"
    failed+=("$name")
  fi
}

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  skipped "sanitizers: only set up for $TARGET"
  exit 0
fi
if ! command -v rustup >/dev/null 2>&1; then
  skipped "sanitizers: rustup not found"
  exit 0
fi
if ! has_nightly; then
  rustup toolchain install nightly --profile minimal >/dev/null 2>&1 || true
fi
if ! has_nightly; then
  skipped "sanitizers: no nightly toolchain and it could not be installed"
  exit 0
fi

start=$SECONDS

# --- AddressSanitizer: use-after-free, double free, leaks (LeakSanitizer) ---
if [[ " $PARTS " == *" asan "* ]]; then
  banner "ASan"
  rustup +nightly target add "$TARGET" >/dev/null 2>&1 || true
  timed "ASan (stress, drops, cache)" env RUSTFLAGS="-Zsanitizer=address" \
    ASAN_OPTIONS="${ASAN_OPTIONS:-detect_odr_violation=0}" \
    cargo +nightly test --target "$TARGET" --target-dir target/asan --release \
    --test stress --test drops --test cache
fi

# --- ThreadSanitizer: data races (std rebuilt with TSan) ---
if [[ " $PARTS " == *" tsan "* ]]; then
  banner "TSan"
  if component rust-src; then
    # crossbeam-epoch's build script sets crossbeam_sanitize_thread itself.
    timed "TSan (stress)" env RUSTFLAGS="-Zsanitizer=thread" \
      TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1}" \
      cargo +nightly test -Zbuild-std --target "$TARGET" --target-dir target/tsan --release \
      --test stress
  else
    skipped "TSan: the nightly rust-src component is missing and could not be added"
  fi
fi

# --- Miri, Tree Borrows (Stacked Borrows flags crossbeam-epoch itself, crossbeam#545) ---
if [[ " $PARTS " == *" miri "* ]]; then
  banner "Miri"
  if component miri && component rust-src && cargo +nightly miri setup >/dev/null 2>&1; then
    export MIRIFLAGS="${MIRIFLAGS:--Zmiri-tree-borrows -Zmiri-ignore-leaks}"
    timed "Miri (--lib)" cargo +nightly miri test --lib
    if [ "${MIRI_CACHE_TESTS:-1}" = 1 ]; then
      t=${MIRI_TIMEOUT:-900}
      t0=$SECONDS
      set +e
      timeout "$t" cargo +nightly miri test --test cache
      rc=$?
      set -e
      if [ $rc -eq 124 ]; then
        skipped "Miri --test cache: did not finish within ${t}s (raise MIRI_TIMEOUT)"
      elif [ $rc -ne 0 ]; then
        echo "Miri (--test cache): FAILED after $((SECONDS - t0)) s"
        failed+=("Miri (--test cache)")
      else
        echo "Miri (--test cache): passed in $((SECONDS - t0)) s"
      fi
    fi
  else
    skipped "Miri: the nightly miri/rust-src components are missing or 'cargo miri setup' failed"
  fi
fi

echo "sanitizers total: $((SECONDS - start)) s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "sanitizer failures: ${failed[*]}"
  exit 1
fi
