#!/usr/bin/env bash
# The benchmark (benches/pipe): winpipe against raw Kernel32 calls, release build,
# under Wine. Extra arguments go to cargo; WINPIPE_BENCH_REPS sets the repetitions.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh
exec cargo bench --target x86_64-pc-windows-gnu --bench pipe "$@"
