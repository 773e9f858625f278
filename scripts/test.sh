#!/usr/bin/env bash
# The test command: portable tests on the host, then the unit, integration and
# doc tests for x86_64-pc-windows-gnu under Wine. Extra arguments go to both
# `cargo test` runs, e.g. `scripts/test.sh -- --nocapture`.
# Runs every stage and exits non-zero if any of them failed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

failed=()
stage() {
  local name=$1
  shift
  printf '\n==== %s\n' "$name"
  "$@" || failed+=("$name")
}

printf '==== setup\n'
scripts/setup.sh   # must succeed before anything else makes sense
stage "host tests: cargo test $*" cargo test "$@"
stage "Windows tests under Wine: cargo test --target x86_64-pc-windows-gnu $*" \
  cargo test --target x86_64-pc-windows-gnu "$@"

if ((${#failed[@]})); then
  printf '\n==== FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
printf '\n==== all tests passed\n'
