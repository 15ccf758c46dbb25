#!/usr/bin/env bash
# Checks, without a Swift toolchain, that generated Swift fits bindings/swift/Package.swift:
# the generated code imports the FFI module the package's binary target is named after, the
# module map declares that module over the generated header, and the recipe parses.
# Usage: bash bindings/swift/check-package.sh <folder with the generated Swift>
set -euo pipefail
generated="${1:?usage: check-package.sh <folder with the generated Swift>}"
package="$(dirname "$0")/Package.swift"
fail() { echo "Swift package check: $*" >&2; exit 1; }
ffi="$(sed -n 's/.*\.binaryTarget(name: "\([A-Za-z]*\)".*/\1/p' "$package")"
module="$(sed -n 's/.*\.target(name: "\([A-Za-z]*\)", dependencies: \["'"$ffi"'"\].*/\1/p' "$package")"
[ -n "$ffi" ] && [ -n "$module" ] || fail "Package.swift has no binary target and target on it"
[ -f "$generated/$module.swift" ] || fail "no $module.swift generated (uniffi.toml module_name)"
grep -q "^import $ffi\$\|^    import $ffi\$" "$generated/$module.swift" \
  || fail "$module.swift does not import $ffi (uniffi.toml ffi_module_name)"
[ -f "$generated/$ffi.h" ] || fail "no $ffi.h generated"
grep -q "module $ffi {" "$generated/$ffi.modulemap" || fail "$ffi.modulemap does not declare module $ffi"
grep -q "header \"$ffi.h\"" "$generated/$ffi.modulemap" || fail "$ffi.modulemap does not name $ffi.h"
bash -n "$(dirname "$0")/build-xcframework.sh" || fail "build-xcframework.sh does not parse"
echo "Swift package check: $module.swift imports $ffi; $ffi.modulemap declares it over $ffi.h"
