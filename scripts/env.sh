# Sourced by the other scripts: where the cached tools live and how to keep wrangler offline-safe.
# Tools are installed once into ~/.cache (outside the clone) and reused by every run.
PR_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PR_TOOLS="${PARITYRAIL_TOOLS:-$HOME/.cache/parityrail/tools}"
WORKER_BUILD_VERSION=0.8.7
# The wasm-bindgen CLI must equal the wasm-bindgen crate version in Cargo.lock exactly.
WASM_BINDGEN_VERSION="$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/"/,"",$3); print $3; exit}' "$PR_ROOT/Cargo.lock")"
export PATH="$PR_TOOLS/worker-build-$WORKER_BUILD_VERSION/bin:$HOME/.cargo/bin:$PATH"
export WASM_BINDGEN_BIN="$PR_TOOLS/wasm-bindgen-$WASM_BINDGEN_VERSION/bin/wasm-bindgen"
export WASM_OPT_BIN="$PR_ROOT/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$PR_ROOT/node_modules/.bin/esbuild"
export WRANGLER_SEND_METRICS=false WRANGLER_SEND_ERROR_REPORTS=false CLOUDFLARE_CF_FETCH_ENABLED=false
export NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
mkdir -p "$PR_ROOT/.tmp"
export TMPDIR="$PR_ROOT/.tmp"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
