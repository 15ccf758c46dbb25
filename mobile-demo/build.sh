#!/usr/bin/env bash
# Builds the mobile demo: the bindings library and the server binary (cargo), the generated
# Kotlin bindings, then the demo itself (kotlinc) into mobile-demo/build/mobile-demo.jar.
# Installs what is missing, idempotently, exactly as bindings/run-tests.sh does: JNA from
# Debian's libjna-java / libjna-jni, the Kotlin compiler from npm into bindings/tests/kotlin/.tools.
# Sourced by run.sh, run-scripted.sh and screenshot.sh; afterwards `demo_java` runs a class of
# the demo. MOBILE_DEMO_SKIP_CARGO=1 skips cargo and generation (bindings/run-tests.sh has
# done both already).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
target="${CARGO_TARGET_DIR:-$repo/target}"
case "$target" in /*) ;; *) target="$repo/$target" ;; esac
demo_progress() { printf -- '--- mobile demo: %s\n' "$*"; }

if [ -z "${MOBILE_DEMO_SKIP_CARGO:-}" ]; then
  demo_progress "building the bindings library and the server (cargo), generating the Kotlin bindings"
  # The same features as the test command's build, so after it this compiles almost nothing.
  cargo build --locked --quiet --workspace --all-features --lib --bins
  BINDINGS_SKIP_BUILD=1 bash bindings/generate.sh kotlin >/dev/null
fi
[ -f bindings/generated/kotlin/org/baoming/client/baoming.kt ] || { echo "the Kotlin bindings were not generated" >&2; exit 1; }

source bindings/kotlin-toolchain.sh
kotlin_lib="$(cd "$(dirname "$kotlinc")/../lib" && pwd)"

build=mobile-demo/build
jar="$build/mobile-demo.jar"
mkdir -p "$build" && rm -f "$jar"
demo_progress "compiling the bindings and the demo (kotlinc)"
# shellcheck disable=SC2046
"$kotlinc" -nowarn -cp "$jna" -d "$jar" bindings/generated/kotlin/org/baoming/client/baoming.kt \
  $(find mobile-demo/src -name '*.kt' | sort) 2>&1 | grep -v '^warning: ' || true
[ -f "$jar" ] || { echo "kotlinc failed" >&2; exit 1; }

server_bin="$target/debug/baoming-server"
# Runs a main class of the demo on the JVM with the bindings library found through JNA.
demo_java() {
  local main="$1"
  shift
  java -Djna.library.path="$target/debug" -cp "$repo/$jar:$jna:$kotlin_lib/kotlin-stdlib.jar" \
    ${DEMO_JAVA_OPTS:-} "$main" "$@"
}
