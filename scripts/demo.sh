#!/usr/bin/env bash
# The demo: builds the echo_server and echo_client examples for Windows, runs
# the server under Wine in the background, lets the client talk to it, then
# stops the server. Exits with the client's status.
#   scripts/demo.sh [WORDS...]   words for the client to send
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/wine-env.sh
source scripts/wine-env.sh

target=x86_64-pc-windows-gnu
examples=$WINPIPE_TARGET_DIR/$target/debug/examples
# A new pipe name per run, so a server left over from an interrupted demo
# cannot answer in place of this one.
pipe="\\\\.\\pipe\\winpipe-demo-$$"

printf '==== setup and build\n'
scripts/setup.sh
cargo build --target "$target" --example echo_server --example echo_client

server=
# Ends the server's wine process; only if it ignores that, everything in the
# prefix (wineserver -k). Tests running elsewhere in the prefix survive.
stop_server() {
  [[ -n $server ]] || return 0
  kill "$server" 2>/dev/null || true
  local _
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    kill -0 "$server" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$server" 2>/dev/null; then wineserver -k || true; fi
  wait "$server" 2>/dev/null || true
  server=
}
trap stop_server EXIT

printf '\n==== echo_server %s (background)\n' "$pipe"
# timeout: the server never outlives a demo that went wrong.
timeout 120 scripts/wine-runner.sh "$examples/echo_server.exe" "$pipe" &
server=$!

printf '\n==== echo_client %s %s\n' "$pipe" "$*"
# The server needs a moment to create its pipe: retry for a few seconds
# while it is running (not after a client timeout).
status=1
deadline=$((SECONDS + 15))
sleep 1
while :; do
  if ! kill -0 "$server" 2>/dev/null; then
    echo "demo: echo_server is not running" >&2
    break
  fi
  status=0
  timeout 30 scripts/wine-runner.sh "$examples/echo_client.exe" "$pipe" "$@" || status=$?
  ((status != 0 && status != 124 && SECONDS < deadline)) || break
  echo "demo: echo_client failed (status $status), retrying" >&2
  sleep 1
done

printf '\n==== stopping echo_server\n'
stop_server
trap - EXIT
if ((status == 0)); then echo "demo: ok"; else echo "demo: FAILED (status $status)" >&2; fi
exit "$status"
