#!/usr/bin/env bash
# Builds the mobile demo on the bindings' jar, the way an app takes the package as a dependency:
# the jar (bindings/package.sh: the generated Kotlin with the native library inside, loaded by
# JNA from the jar) and the server binary (cargo), then the demo itself (kotlinc) into
# mobile-demo/build/mobile-demo.jar.
# Installs what is missing, idempotently, exactly as bindings/package.sh does: JNA from
# Debian's libjna-java / libjna-jni, the Kotlin compiler from npm into bindings/tests/kotlin/.tools.
# Sourced by run.sh, run-scripted.sh and screenshot.sh; afterwards `demo_java` runs a class of
# the demo. MOBILE_DEMO_JAR=<jar> uses a jar built already (bindings/run-tests.sh passes the
# dist one) and skips cargo with MOBILE_DEMO_SKIP_CARGO=1; otherwise the jar is packaged here
# from the debug library (quick after a test build; `--profile dist` is what apps ship).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
target="${CARGO_TARGET_DIR:-$repo/target}"
case "$target" in /*) ;; *) target="$repo/$target" ;; esac
demo_progress() { printf -- '--- mobile demo: %s\n' "$*"; }

if [ -z "${MOBILE_DEMO_SKIP_CARGO:-}" ]; then
  demo_progress "building the server (cargo)"
  # The same features as the test command's build, so after it this compiles almost nothing.
  cargo build --locked --quiet --workspace --all-features --lib --bins
fi
bindings_jar="${MOBILE_DEMO_JAR:-}"
if [ -z "$bindings_jar" ]; then
  demo_progress "packaging the bindings' jar (bindings/package.sh --profile dev jar)"
  bash bindings/package.sh --profile dev jar >/dev/null
  version="$(cargo pkgid --locked -p baoming-bindings | sed 's/.*[@#]//')"
  bindings_jar="$target/packages/baoming-$version-linux-x86_64.jar"
fi
[ -f "$bindings_jar" ] || { echo "the bindings' jar $bindings_jar is missing" >&2; exit 1; }

source bindings/kotlin-toolchain.sh
kotlin_lib="$(cd "$(dirname "$kotlinc")/../lib" && pwd)"

build=mobile-demo/build
jar="$build/mobile-demo.jar"
mkdir -p "$build" && rm -f "$jar"
demo_progress "compiling the demo against $(basename "$bindings_jar") (kotlinc)"
# shellcheck disable=SC2046
"$kotlinc" -nowarn -cp "$bindings_jar:$jna" -d "$jar" \
  $(find mobile-demo/src -name '*.kt' | sort) 2>&1 | grep -v '^warning: ' || true
[ -f "$jar" ] || { echo "kotlinc failed" >&2; exit 1; }

server_bin="$target/debug/baoming-server"
# Runs a main class of the demo on the JVM; JNA loads the native library from the bindings' jar.
demo_java() {
  local main="$1"
  shift
  java -cp "$repo/$jar:$bindings_jar:$jna:$kotlin_lib/kotlin-stdlib.jar" \
    ${DEMO_JAVA_OPTS:-} "$main" "$@"
}
