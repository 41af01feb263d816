#!/usr/bin/env bash
# Installs what building and running ParityRail needs, skipping anything already present:
# the wasm32 target, worker-build and wasm-bindgen-cli (cached under ~/.cache), npm packages.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  if [ ${#missing[@]} -gt 0 ]; then
    say "apt-get install ${missing[*]}"
    local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

apt_install pkg-config libssl-dev openssl curl ${PR_EXTRA_APT:-}
# A stock Debian python3 needs python3-venv for `python3 -m venv` (the tests' localstripe venv).
if [ -n "${PR_EXTRA_APT:-}" ] && ! python3 -c "import venv, ensurepip" 2>/dev/null; then apt_install python3-venv; fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

if [ ! -x "$PR_TOOLS/worker-build-$WORKER_BUILD_VERSION/bin/worker-build" ]; then
  say "cargo install worker-build $WORKER_BUILD_VERSION (once, about 5 minutes)"
  cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked --root "$PR_TOOLS/worker-build-$WORKER_BUILD_VERSION"
fi

if [ ! -x "$WASM_BINDGEN_BIN" ]; then
  say "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (once, about 3 minutes)"
  # Not --locked: its lock pins a webpki-roots release the registry does not serve.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --root "$PR_TOOLS/wasm-bindgen-$WASM_BINDGEN_VERSION"
fi

cd "$PR_ROOT"
if [ ! -x node_modules/.bin/wrangler ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
