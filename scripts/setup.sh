#!/usr/bin/env bash
# Installs what cross-testing winpipe under Wine needs, and prepares the Wine
# prefix. Idempotent; prints nothing when everything is already in place.
#
#   scripts/setup.sh                apt packages, rustup target, Wine prefix + shim
#   scripts/setup.sh --ci           also the check-only targets, rustfmt and clippy
#                                   (same as WINPIPE_CI_TARGETS=1)
#   scripts/setup.sh --prefix-only  only the Wine prefix + shim (wine-runner.sh)
set -euo pipefail
# shellcheck source=scripts/wine-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/wine-env.sh"
cd "$WINPIPE_ROOT"   # so rustup honours a rust-toolchain file

ci=${WINPIPE_CI_TARGETS:-0}
prefix_only=0
for arg in "$@"; do
  case $arg in
    --ci) ci=1 ;;
    --prefix-only) prefix_only=1 ;;
    *) echo "usage: $0 [--ci] [--prefix-only]" >&2; exit 2 ;;
  esac
done

say() { echo "setup: $*" >&2; }
die() { say "error: $*"; exit 1; }
as_root() { if ((EUID == 0)); then "$@"; else sudo "$@"; fi; }

install_apt_packages() {
  local pkg missing=()
  command -v dpkg-query >/dev/null || return 0   # not Debian: install them yourself
  # "wine" provides /usr/bin/wine*, "wine64" the 64-bit loader behind them.
  for pkg in wine wine64 gcc-mingw-w64-x86-64; do
    dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null | grep -qx installed ||
      missing+=("$pkg")
  done
  # tests/local.rs starts Unix socket servers std cannot make (listen(0)) in Python.
  command -v python3 >/dev/null || missing+=(python3)
  ((${#missing[@]})) || return 0
  say "installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

install_rust_parts() {
  local t c missing=() installed
  local targets=(x86_64-pc-windows-gnu) components=()
  ((ci)) && targets+=(i686-pc-windows-gnu x86_64-pc-windows-msvc aarch64-pc-windows-msvc)
  ((ci)) && components+=(rustfmt clippy)
  installed=$(rustup target list --installed)
  for t in "${targets[@]}"; do grep -qx "$t" <<<"$installed" || missing+=("$t"); done
  if ((${#missing[@]})); then
    say "adding rustup targets ${missing[*]}"
    rustup target add "${missing[@]}"
  fi
  ((${#components[@]})) || return 0
  missing=()
  installed=$(rustup component list --installed)
  for c in "${components[@]}"; do grep -q "^$c-" <<<"$installed" || missing+=("$c"); done
  if ((${#missing[@]})); then
    say "adding rustup components ${missing[*]}"
    rustup component add "${missing[@]}"
  fi
}

# Creates the prefix once, then (re)builds and installs the ProcessPrng shim.
prepare_prefix() {
  winpipe_prefix_ready && return 0
  if ! command -v wineboot >/dev/null || ! command -v x86_64-w64-mingw32-gcc >/dev/null; then
    die "Wine or MinGW gcc missing: run scripts/setup.sh"
  fi
  mkdir -p "$WINPIPE_TARGET_DIR"
  exec 9>"$WINPIPE_LOCK"
  flock 9
  winpipe_prefix_ready && return 0   # done by a concurrent run meanwhile

  local boot_log=$WINPIPE_TARGET_DIR/wine-prefix.log
  if [[ ! -e $WINEPREFIX/.winpipe-booted ]]; then
    say "creating Wine prefix $WINEPREFIX"
    # fd 9 closed: the wineserver started here must not keep our lock.
    # (The "syswow64\rundll32.exe: c0000135" line in the log is harmless.)
    wineboot -i </dev/null >"$boot_log" 2>&1 9>&- ||
      { cat "$boot_log" >&2; die "wineboot failed"; }
    touch "$WINEPREFIX/.winpipe-booted"
  fi

  local dll=$WINPIPE_TARGET_DIR/wine-shim/bcryptprimitives.dll
  local sys32=$WINEPREFIX/drive_c/windows/system32   # 64-bit DLLs in a win64 prefix
  if [[ ! $dll -nt $WINPIPE_SHIM_SRC ]]; then
    mkdir -p "${dll%/*}"
    x86_64-w64-mingw32-gcc -O2 -Wall -Wextra -Werror -shared -s \
      -o "$dll" "$WINPIPE_SHIM_SRC" -ladvapi32
  fi
  cmp -s "$dll" "$sys32/bcryptprimitives.dll" || cp "$dll" "$sys32/bcryptprimitives.dll"
  touch "$WINPIPE_READY_STAMP"
  exec 9>&-
}

if ((!prefix_only)); then
  install_apt_packages
  install_rust_parts
fi
prepare_prefix
