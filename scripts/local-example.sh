#!/usr/bin/env bash
# Runs the cross-platform example local_echo (no cfg in its source) natively on
# this host and, built for Windows, under Wine. Exits non-zero if any run failed.
#   scripts/local-example.sh [SERVICE]   service name (default: the example's)
# The native example runs twice: the second run finds the socket file the first
# left behind and must replace it (local::bind). Wine gives the Windows build its
# own pipe namespace, so the two platforms never meet.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

win=x86_64-pc-windows-gnu
failed=()
# run NAME COMMAND...: header, run with a time limit (the example's own timeouts
# should end it first), record a failure.
run() {
  local name=$1
  shift
  printf '\n==== %s\n' "$name"
  timeout 120 "$@" || failed+=("$name")
}

printf '==== setup and build\n'
scripts/setup.sh
cargo build --example local_echo
cargo build --target "$win" --example local_echo

run "native" cargo run -q --example local_echo -- "$@"
run "native, again (replaces the stale socket file)" cargo run -q --example local_echo -- "$@"
run "Windows under Wine" cargo run -q --target "$win" --example local_echo -- "$@"

if ((${#failed[@]})); then
  printf '\n==== FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
printf '\n==== local_echo: ok natively and under Wine\n'
