#!/usr/bin/env bash
# Builds the Swift package's two parts on a Mac with Xcode and rustup (bindings/README.md,
# "Swift"): the native library in the dist profile as a static library for iOS devices
# (aarch64-apple-ios), the iOS simulator (aarch64-apple-ios-sim + x86_64-apple-ios, one fat
# library) and macOS (aarch64 + x86_64), bundled with the generated C header and module map into
# bindings/swift/BaomingFFI.xcframework; and the generated Swift into
# bindings/swift/Sources/Baoming/. Then `swift build` in bindings/swift, or add the folder to an
# Xcode project as a local package.
set -euo pipefail
if [ "$(uname -s)" != Darwin ] || ! command -v xcodebuild >/dev/null 2>&1; then
  echo "build-xcframework.sh needs macOS with Xcode (xcodebuild, lipo); see bindings/README.md" >&2
  exit 2
fi
cd "$(dirname "$0")/../.."
swift_dir=bindings/swift
work=target/swift-package
targets=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios aarch64-apple-darwin x86_64-apple-darwin)
rustup target add "${targets[@]}"
for t in "${targets[@]}"; do
  # A static library for the app's link (the crate's cdylib is for JNA and Python).
  cargo rustc --locked --profile dist -p baoming-bindings --lib --target "$t" --crate-type staticlib
done
lib() { echo "target/$1/dist/libbaoming_bindings.a"; }

rm -rf "$work" && mkdir -p "$work/headers" "$work/ios-simulator" "$work/macos"
# The generator reads the library's metadata from a build for this Mac.
cargo build --locked --profile dist -p baoming-bindings --lib
cargo build --locked -p baoming-bindgen
target/debug/uniffi-bindgen generate --library target/dist/libbaoming_bindings.dylib \
  --language swift --out-dir "$work/generated"
cp "$work/generated/BaomingFFI.h" "$work/headers/"
cp "$work/generated/BaomingFFI.modulemap" "$work/headers/module.modulemap"

lipo -create "$(lib aarch64-apple-ios-sim)" "$(lib x86_64-apple-ios)" \
  -output "$work/ios-simulator/libbaoming_bindings.a"
lipo -create "$(lib aarch64-apple-darwin)" "$(lib x86_64-apple-darwin)" \
  -output "$work/macos/libbaoming_bindings.a"
rm -rf "$swift_dir/BaomingFFI.xcframework"
xcodebuild -create-xcframework \
  -library "$(lib aarch64-apple-ios)" -headers "$work/headers" \
  -library "$work/ios-simulator/libbaoming_bindings.a" -headers "$work/headers" \
  -library "$work/macos/libbaoming_bindings.a" -headers "$work/headers" \
  -output "$swift_dir/BaomingFFI.xcframework"
mkdir -p "$swift_dir/Sources/Baoming"
cp "$work/generated/Baoming.swift" "$swift_dir/Sources/Baoming/"
echo "built $swift_dir/BaomingFFI.xcframework and $swift_dir/Sources/Baoming/Baoming.swift"
