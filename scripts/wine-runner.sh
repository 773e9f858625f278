#!/usr/bin/env bash
# Cargo's runner for x86_64-pc-windows-gnu (see .cargo/config.toml): runs a
# test binary, example or doctest under Wine. Usage: wine-runner.sh EXE [ARGS...]
# Wine exits with the program's exit code (its low 8 bits).
set -euo pipefail
# shellcheck source=scripts/wine-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/wine-env.sh"

# Prefix and shim, created on first use (no apt or rustup work here).
winpipe_prefix_ready || "$WINPIPE_ROOT/scripts/setup.sh" --prefix-only
winpipe_start_wineserver

# `wine` picks the 64-bit loader (Debian has no wine64 in PATH).
exec wine "$@"
