#!/usr/bin/env bash
# The bindings' host suites: generates the Kotlin, Swift and Python bindings, then runs the
# Python suite (pytest), the Kotlin suite (JVM + JNA) and the mobile demo's scripted journey
# (mobile-demo/run-scripted.sh) against the real baoming-server.
# Installs what is missing by itself, idempotently: JNA (Debian's libjna-java / libjna-jni),
# the Kotlin compiler (npm package kotlin-compiler, into bindings/tests/kotlin/.tools) and
# pytest (into the venv bindings/tests/python/.venv).
# Swift is generated but not compiled: there is no Swift toolchain on these machines.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
target="${CARGO_TARGET_DIR:-$repo/target}"
case "$target" in /*) ;; *) target="$repo/$target" ;; esac
progress() { printf -- '--- bindings: %s\n' "$*"; }
started=$SECONDS

progress "building the server binary and generating Kotlin, Swift and Python"
# The same features as the test command's build, so after it this compiles almost nothing.
cargo build --locked --quiet --workspace --all-features --lib --bins
BINDINGS_SKIP_BUILD=1 bash bindings/generate.sh
lib_dir="$target/debug"
export BINDINGS_SERVER_BIN="$target/debug/baoming-server" BINDINGS_REPO="$repo"

# --- Python -------------------------------------------------------------------------------
venv=bindings/tests/python/.venv
if ! "$venv/bin/python" -c 'import pytest' >/dev/null 2>&1; then
  progress "installing pytest into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check pytest
fi
progress "Python suite (pytest)"
LD_LIBRARY_PATH="$lib_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
  PYTHONPATH="$repo/bindings/generated/python:$repo/bindings/tests/python" \
  "$venv/bin/python" -m pytest -q -p no:cacheprovider bindings/tests/python

# --- Kotlin -------------------------------------------------------------------------------
source bindings/kotlin-toolchain.sh
build=bindings/tests/kotlin/build
mkdir -p "$build" && rm -f "$build/journey.jar"
progress "compiling the Kotlin bindings and suite (kotlinc)"
"$kotlinc" -nowarn -cp "$jna" -d "$build/journey.jar" \
  bindings/generated/kotlin/org/baoming/client/baoming.kt bindings/tests/kotlin/JourneyTest.kt 2>&1 \
  | grep -v '^warning: ' || true
[ -f "$build/journey.jar" ] || { echo "kotlinc failed" >&2; exit 1; }
kotlin_lib="$(dirname "$kotlinc")/../lib"
progress "Kotlin suite (JVM + JNA)"
java -Djna.library.path="$lib_dir" -cp "$build/journey.jar:$jna:$kotlin_lib/kotlin-stdlib.jar" \
  org.baoming.client.test.JourneyTestKt

# --- Mobile demo (mobile-demo/, its own README) --------------------------------------------
progress "mobile demo: the scripted journey through its view-models"
MOBILE_DEMO_SKIP_CARGO=1 bash mobile-demo/run-scripted.sh

progress "done in $((SECONDS - started)) s (Swift generated in bindings/generated/swift, not compiled here)"
