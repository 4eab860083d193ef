#!/usr/bin/env bash
# Sanitizer runs of the test suite (nightly): AddressSanitizer, ThreadSanitizer
# (with -Zbuild-std) and Miri with Tree Borrows. Each part checks for its
# toolchain pieces, tries to install them, and prints "SKIPPED: <reason>"
# (without failing) when they cannot be had; a part that runs and fails makes
# the script exit non-zero after the other parts have run.
#
# Knobs: SANITIZERS="asan tsan miri" (which parts); MIRI_TESTS (the tests/
# files Miri runs, default "cache drops regressions"); MIRI_LIB_SKIP (unit
# test names Miri skips, default none); MIRI_TIMEOUT (seconds, default 1200):
# the budget of the whole Miri part, after which a run is killed and counted
# as failed.
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
  asan() {
    # asan ASAN_OPTIONS CARGO-TEST-ARGS...
    local opts=$1
    shift
    env ASAN_OPTIONS="$opts" RUSTFLAGS="-Zsanitizer=address" cargo +nightly test \
      --target "$TARGET" --target-dir target/asan --release --no-fail-fast "$@"
  }
  asan_opts="${ASAN_OPTIONS:-detect_odr_violation=0}"
  timed "ASan + LeakSanitizer (stress, cache)" asan "$asan_opts" --test stress --test cache
  # tests/drops.rs leaks its counters on purpose (Box::leak, so that a late
  # drop never touches freed memory) and checks drop balance itself, so
  # LeakSanitizer is off for it; ASan still checks every access.
  timed "ASan (drops)" asan "$asan_opts:detect_leaks=0" --test drops
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
# The library's unit tests, loom-tests/tests/miri_smoke.rs and the whole of
# tests/cache.rs, tests/drops.rs and tests/regressions.rs (sizes shrink under
# cfg(miri); tests/drops.rs and tests/regressions.rs include small
# multi-threaded cases, which Miri checks for data races too). Under Miri the
# system clock is std::time::Instant (src/expiry.rs), since quanta's clock
# detection runs cpuid/rdtsc, which Miri cannot execute. Not run: tests/stress.rs
# (cfg(not(miri)); TSan and ASan run it), tests/backend.rs, tests/traces.rs,
# and the tests marked #[cfg_attr(miri, ignore)]. About 6 minutes on 2 cores.
MIRI_TESTS="${MIRI_TESTS:-cache drops regressions}"
MIRI_LIB_SKIP="${MIRI_LIB_SKIP:-}"
if [[ " $PARTS " == *" miri "* ]]; then
  banner "Miri"
  if component miri && component rust-src && cargo +nightly miri setup >/dev/null 2>&1; then
    export MIRIFLAGS="${MIRIFLAGS:--Zmiri-tree-borrows -Zmiri-ignore-leaks}"
    miri_deadline=$((SECONDS + ${MIRI_TIMEOUT:-1200}))
    miri_test() {
      # miri_test CARGO-MIRI-TEST-ARGS...: one run, within what is left of the budget.
      local left=$((miri_deadline - SECONDS))
      if [ "$left" -le 0 ]; then
        echo "Miri: the ${MIRI_TIMEOUT:-1200} s budget is spent; not run: $*"
        return 1
      fi
      local rc=0
      timeout --kill-after=30 "$left" cargo +nightly miri test "$@" || rc=$?
      if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        echo "Miri: killed when the ${MIRI_TIMEOUT:-1200} s budget ran out: $*"
      fi
      return "$rc"
    }
    skip_args=()
    for t in $MIRI_LIB_SKIP; do skip_args+=(--skip "$t"); done
    timed "Miri (--lib)" miri_test --lib -- "${skip_args[@]}"
    timed "Miri (loom-tests miri_smoke)" miri_test -p loom-tests --test miri_smoke
    for t in $MIRI_TESTS; do
      timed "Miri (--test $t)" miri_test --test "$t"
    done
  else
    skipped "Miri: the nightly miri/rust-src components are missing or 'cargo miri setup' failed"
  fi
fi

echo "sanitizers total: $((SECONDS - start)) s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "sanitizer failures: ${failed[*]}"
  exit 1
fi
