#!/usr/bin/env bash
# The bindings' host suites, run on the packages integrators install: builds the wheel and the
# jar (bindings/package.sh, profile dist unless BINDINGS_PROFILE=dev), installs the wheel into a
# fresh virtual environment and runs the Python suite (pytest, with a mypy check of its types),
# runs the Kotlin suite and the mobile demo's scripted journey with the jar as their only
# dependency besides JNA and the Kotlin standard library, all against the real baoming-server.
# Swift is generated and checked against bindings/swift/Package.swift, not compiled: there is
# no Swift toolchain on these machines.
# Installs what is missing by itself, idempotently: maturin (pip), JNA (Debian's libjna-java /
# libjna-jni), the Kotlin compiler (npm package kotlin-compiler, into bindings/tests/kotlin/.tools);
# pytest and mypy go into the fresh virtual environment.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
target="${CARGO_TARGET_DIR:-$repo/target}"
case "$target" in /*) ;; *) target="$repo/$target" ;; esac
profile="${BINDINGS_PROFILE:-dist}"
progress() { printf -- '--- bindings: %s\n' "$*"; }
started=$SECONDS
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

progress "building the server binary and the generator (cargo)"
# The same features as the test command's build, so after it this compiles almost nothing.
cargo build --locked --quiet --workspace --all-features --lib --bins
export BINDINGS_SERVER_BIN="$target/debug/baoming-server" BINDINGS_REPO="$repo"

progress "the packages (bindings/package.sh --profile $profile)"
bash bindings/package.sh --profile "$profile"
version="$(cargo pkgid --locked -p baoming-bindings | sed 's/.*[@#]//')"
wheel="$target/packages/baoming-$version-py3-none-linux_x86_64.whl"
jar="$target/packages/baoming-$version-linux-x86_64.jar"

# --- Swift (generated, checked, not compiled) -------------------------------------------------
progress "Swift: generating, and checking the names bindings/swift/Package.swift expects"
BINDINGS_SKIP_BUILD=1 bash bindings/generate.sh swift >/dev/null
bash bindings/swift/check-package.sh bindings/generated/swift

# --- Python: the wheel in a fresh virtual environment -----------------------------------------
venv="$scratch/venv"
progress "Python: installing the wheel into a fresh virtual environment ($(basename "$wheel"))"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "$wheel" pytest mypy
progress "Python suite (pytest)"
# Only the suite's folder is on the path: `import baoming` finds the installed wheel.
(cd "$scratch" && PYTHONPATH="$repo/bindings/tests/python" BINDINGS_WHEEL="$wheel" \
  "$venv/bin/python" -m pytest -q -p no:cacheprovider "$repo/bindings/tests/python")

# --- Kotlin: the jar as a dependency ----------------------------------------------------------
source bindings/kotlin-toolchain.sh
kotlin_lib="$(cd "$(dirname "$kotlinc")/../lib" && pwd)"
build=bindings/tests/kotlin/build
mkdir -p "$build" && rm -f "$build/journey.jar"
progress "compiling the Kotlin suite against $(basename "$jar") (kotlinc)"
"$kotlinc" -nowarn -cp "$jar:$jna" -d "$build/journey.jar" bindings/tests/kotlin/JourneyTest.kt 2>&1 \
  | grep -v '^warning: ' || true
[ -f "$build/journey.jar" ] || { echo "kotlinc failed" >&2; exit 1; }
progress "Kotlin suite (JVM; JNA loads the native library from the jar)"
java -cp "$build/journey.jar:$jar:$jna:$kotlin_lib/kotlin-stdlib.jar" org.baoming.client.test.JourneyTestKt

# --- Mobile demo (mobile-demo/, its own README) --------------------------------------------
progress "mobile demo: the scripted journey through its view-models, on the jar"
MOBILE_DEMO_SKIP_CARGO=1 MOBILE_DEMO_JAR="$jar" bash mobile-demo/run-scripted.sh

progress "done in $((SECONDS - started)) s"
