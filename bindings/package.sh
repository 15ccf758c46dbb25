#!/usr/bin/env bash
# Builds the packages integrators install (bindings/README.md, "Packages") into target/packages/:
#   baoming-<version>-py3-none-linux_x86_64.whl  the Python wheel (maturin, uniffi mode), typed
#   baoming-<version>-linux-x86_64.jar           the generated Kotlin, compiled, with the native
#                                                library inside (JNA loads it from the jar)
#   baoming-<version>-sources.jar                the generated Kotlin, for an IDE's docs
# Usage: bash bindings/package.sh [--profile dist|dev] [wheel] [jar]     (default: dist, both)
#   dist: optimised and stripped, what integrators ship (a cold build takes minutes: see README);
#   dev:  the debug library, quick after a test build, for working on the bindings.
# Installs what is missing, idempotently: maturin (pip, into bindings/.tools/maturin), the Kotlin
# compiler and JNA (kotlin-toolchain.sh), and the JDK's `jar` tool (Debian's default-jdk-headless).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
target="${CARGO_TARGET_DIR:-$repo/target}"
case "$target" in /*) ;; *) target="$repo/$target" ;; esac
progress() { printf -- '--- packages: %s\n' "$*"; }
usage() { echo "usage: bash bindings/package.sh [--profile dist|dev] [wheel] [jar]" >&2; exit 2; }

profile=dist
what=()
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) [ $# -ge 2 ] || usage; profile="$2"; shift 2 ;;
    --profile=*) profile="${1#--profile=}"; shift ;;
    wheel | jar) what+=("$1"); shift ;;
    *) usage ;;
  esac
done
[ ${#what[@]} -eq 0 ] && what=(wheel jar)
case "$profile" in
  dist) lib_dir="$target/dist" ;;
  dev) lib_dir="$target/debug" ;;
  *) echo "unknown profile '$profile': dist or dev" >&2; exit 2 ;;
esac
out="$target/packages"
mkdir -p "$out"
version="$(cargo pkgid --locked -p baoming-bindings | sed 's/.*[@#]//')"
started=$SECONDS

for package in "${what[@]}"; do
  case "$package" in
  wheel)
    maturin_venv=bindings/.tools/maturin
    if ! "$maturin_venv/bin/maturin" --version >/dev/null 2>&1; then
      progress "installing maturin into $maturin_venv"
      python3 -m venv "$maturin_venv"
      "$maturin_venv/bin/pip" install --quiet --disable-pip-version-check 'maturin>=1.9,<2'
    fi
    progress "the Python wheel (maturin, profile $profile)"
    rm -f "$out"/baoming-*.whl
    # maturin builds the library, runs the workspace's uniffi-bindgen (cargo run --bin
    # uniffi-bindgen) and packs both with python/baoming. `linux` tags the wheel for this
    # platform; a wheel for PyPI is built the same way in a manylinux container.
    "$maturin_venv/bin/maturin" build --locked --profile "$profile" --compatibility linux \
      --manifest-path bindings/Cargo.toml --out "$out"
    ;;
  jar)
    source bindings/kotlin-toolchain.sh
    if ! command -v jar >/dev/null 2>&1; then
      progress "installing the JDK's jar tool (default-jdk-headless)"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jdk-headless >/dev/null
    fi
    progress "the Kotlin jar (library: cargo, profile $profile)"
    cargo build --locked --quiet --profile "$profile" -p baoming-bindings --lib
    cargo build --locked --quiet -p baoming-bindgen
    lib="$lib_dir/libbaoming_bindings.so"
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    "$target/debug/uniffi-bindgen" generate --library "$lib" --language kotlin \
      --out-dir "$work/kotlin" --no-format >/dev/null
    "$kotlinc" -nowarn -cp "$jna" -d "$work/classes" $(find "$work/kotlin" -name '*.kt') 2>&1 \
      | grep -v '^warning: ' || true
    [ -d "$work/classes/org/baoming/client" ] || { echo "kotlinc failed" >&2; exit 1; }
    # JNA looks for a library on the class path under its platform folder (linux-x86-64/),
    # extracts it and loads it; android/ios packaging is described in README.md.
    mkdir -p "$work/classes/linux-x86-64"
    cp "$lib" "$work/classes/linux-x86-64/"
    printf 'Implementation-Title: baoming\nImplementation-Version: %s\n' "$version" >"$work/manifest"
    jar --create --file "$out/baoming-$version-linux-x86_64.jar" --manifest "$work/manifest" \
      -C "$work/classes" .
    jar --create --file "$out/baoming-$version-sources.jar" -C "$work/kotlin" .
    ;;
  esac
done

progress "done in $((SECONDS - started)) s; in $out:"
(cd "$out" && ls -l --block-size=K baoming-* | awk '{print "    " $5 "  " $9}')
printf '    native library (%s): %s\n' "$profile" "$(du -h --apparent-size "$lib_dir/libbaoming_bindings.so" 2>/dev/null | cut -f1)"
