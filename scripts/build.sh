#!/usr/bin/env bash
# Builds the two workers with the cached tools, each from this crate with its own feature and
# into its own folder (ARCHITECTURE.md, "Two workers"):
#   build/              the edge worker (feature `edge`): wrangler.toml's `main = "build/index.js"`
#   build-coordinator/  the coordinator (feature `coordinator`): wrangler.coordinator.toml's
# usage: build.sh [edge|coordinator] [cargo options]   (both without a name; wrangler's [build]
# names its own). Cargo options go to each build: `--features fault-hooks` is the e2e build.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$PR_ROOT"
workers=(edge coordinator)
if [ "${1:-}" = edge ] || [ "${1:-}" = coordinator ]; then workers=("$1"); shift; fi
# One build at a time (`wrangler dev` with both configs runs both [build]s): the two share
# target/, where each cargo build leaves its wasm at the same path for worker-build to take.
exec 9>"$TMPDIR/build.lock"
flock 9
# A worker built with these same options after every source of its wasm last changed is not built
# again (`wrangler dev` with both configurations runs both [build]s right after npm start's own
# build; each build of a worker is a minute or two of wasm-opt). Delete build*/ to force one.
for w in "${workers[@]}"; do
  out=build
  [ "$w" = edge ] || out="build-$w"
  stamp="$out/.built-with"
  if [ -f "$out/index.js" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$*" ] &&
     [ -z "$(find src core Cargo.toml Cargo.lock -newer "$stamp" -print -quit)" ]; then
    say "$w: $out/ is up to date"
    continue
  fi
  rm -f "$stamp"
  worker-build --release --out-dir "$out" --no-default-features --features "$w" "$@"
  printf '%s' "$*" >"$stamp"
done
# The public Trust page (dashboard/trust/), from the newest test reports in .tmp (none on a fresh
# checkout: every control then shows `not run`).
node scripts/trust.mjs --reports "$TMPDIR" >/dev/null
