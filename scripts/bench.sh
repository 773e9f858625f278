#!/usr/bin/env bash
# The benchmark (benches/pipe): winpipe against raw Kernel32 calls, release build,
# under Wine. Extra arguments go to cargo; WINPIPE_BENCH_REPS sets the repetitions,
# WINPIPE_BENCH_ONLY one group of rows (see benches/pipe/main.rs).
#
# The benchmark process runs pinned to one CPU (the last; WINPIPE_BENCH_PIN=0 turns
# this off), with the wineserver left free on the others. Unpinned, on a 2-CPU
# machine, the threads of one ping-pong or stream bounce between CPUs and each run
# settles into a fast or a slow scheduling pattern (trips of about 200 or 1000 µs),
# which swamps the difference being measured; pinned, both sides run the same way and
# several times faster.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
win=x86_64-pc-windows-gnu
cargo bench --target "$win" --bench pipe --no-run "$@"

pin=()
if [[ ${WINPIPE_BENCH_PIN:-1} != 0 ]] && command -v taskset >/dev/null; then
  # Start the wineserver (and Wine's service processes) unpinned first: whatever
  # starts them passes its CPU mask on. It stays up while the benchmark runs.
  # shellcheck source=scripts/wine-env.sh
  source scripts/wine-env.sh
  WINPIPE_WINESERVER_PERSIST=30 winpipe_start_wineserver
  pin=(taskset -c "$(($(nproc) - 1))")
fi
exec "${pin[@]}" cargo bench --target "$win" --bench pipe "$@"
