# shellcheck shell=bash
# Sourced by the other scripts: where winpipe's Wine prefix lives and how
# Wine is run. Sets WINPIPE_ROOT, WINPIPE_TARGET_DIR and the WINE* variables.

WINPIPE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# A relative CARGO_TARGET_DIR is taken relative to the repo root.
WINPIPE_TARGET_DIR=${CARGO_TARGET_DIR:-target}
[[ $WINPIPE_TARGET_DIR == /* ]] || WINPIPE_TARGET_DIR=$WINPIPE_ROOT/$WINPIPE_TARGET_DIR

# Our own 64-bit prefix, never the user's ~/.wine.
export WINEPREFIX=$WINPIPE_TARGET_DIR/wine-prefix
export WINEARCH=win64
# -all also hides Debian's "wine32 is missing" hint (32-bit Wine isn't needed).
export WINEDEBUG=-all
# No display and no prompts: skip the Mono/Gecko installers and menu entries.
export WINEDLLOVERRIDES="mscoree,mshtml=;winemenubuilder.exe=d"
export DISPLAY=

WINPIPE_SHIM_SRC=$WINPIPE_ROOT/shim/bcryptprimitives.c
WINPIPE_READY_STAMP=$WINEPREFIX/.winpipe-ready
WINPIPE_LOCK=$WINPIPE_TARGET_DIR/wine-prefix.lock

# True when the prefix exists and holds a shim built from the current source.
winpipe_prefix_ready() {
  [[ $WINPIPE_READY_STAMP -nt $WINPIPE_SHIM_SRC ]]
}

# Makes sure a wineserver runs for the prefix and stays up between the many
# short test processes (WINPIPE_WINESERVER_PERSIST seconds after the last one).
#
# Wine starts its service processes (services.exe, winedevice.exe, ...) from
# the first program a new wineserver sees; they inherit that program's stdout
# and stderr and keep them open until the wineserver exits. Anyone reading our
# output through a pipe (rustdoc capturing a doctest, `| tee`, CI logs) would
# then wait for the whole persistence time. So start them here with /dev/null.
# The lock keeps parallel doctests from running before that is done.
winpipe_start_wineserver() {
  (
    flock 9
    # Both daemons must not inherit the lock (fd 9), or it would stay held.
    if wineserver -p"${WINPIPE_WINESERVER_PERSIST:-15}" </dev/null >/dev/null 2>&1 9>&-; then
      # We started a new server (exit status 2: one was already running).
      wine cmd /c exit </dev/null >/dev/null 2>&1 9>&- || true
    fi
  ) 9>"$WINPIPE_LOCK"
}
