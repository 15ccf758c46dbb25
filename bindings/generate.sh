#!/usr/bin/env bash
# Builds the bindings library and generates its Kotlin, Swift and Python code into
# bindings/generated/{kotlin,swift,python} with the workspace's own uniffi-bindgen.
# Usage: bindings/generate.sh [kotlin|swift|python ...]   (default: all three)
set -euo pipefail
cd "$(dirname "$0")/.."
languages=("$@")
[ ${#languages[@]} -eq 0 ] && languages=(kotlin swift python)
target="${CARGO_TARGET_DIR:-target}"
# (run-tests.sh has built everything already, with the test command's features.)
if [ -z "${BINDINGS_SKIP_BUILD:-}" ]; then
  cargo build --locked --quiet -p baoming-bindings -p baoming-bindgen
fi
lib="$target/debug/libbaoming_bindings.so"
for lang in "${languages[@]}"; do
  out="bindings/generated/$lang"
  rm -rf "$out" && mkdir -p "$out"
  "$target/debug/uniffi-bindgen" generate --library "$lib" --language "$lang" \
    --out-dir "$out" --no-format
  # The Python module loads the library from its own folder.
  if [ "$lang" = python ]; then cp "$lib" "$out/"; fi
  echo "generated $lang bindings in $out"
done
