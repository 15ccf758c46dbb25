// swift-tools-version:5.9
// The Swift package of Baoming's device client (bindings/README.md, "Swift"). Its two parts are
// built on a Mac by build-xcframework.sh: BaomingFFI.xcframework (the native library for iOS
// devices, the iOS simulator and macOS, with its C header and module map) and
// Sources/Baoming/Baoming.swift (the generated Swift, which imports BaomingFFI).
import PackageDescription

let package = Package(
    name: "Baoming",
    platforms: [.iOS(.v15), .macOS(.v12)],
    products: [
        .library(name: "Baoming", targets: ["Baoming"]),
    ],
    targets: [
        .binaryTarget(name: "BaomingFFI", path: "BaomingFFI.xcframework"),
        .target(name: "Baoming", dependencies: ["BaomingFFI"], path: "Sources/Baoming"),
    ]
)
