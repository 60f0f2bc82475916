// swift-tools-version:6.0
import PackageDescription

// FilmRestore: a streaming film-restoration pipeline.
//
// Layering (C stays at the edges):
//   CFFmpeg  ── MediaIO ──┐
//   CBLAS, CKernels, COneDNN ── TensorCore │
//   FilmCore (frames, rationals, color) ── Restoration (stages, pipeline, presets) ── filmrestore (CLI)
let v6: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "FilmRestore",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "filmrestore", targets: ["filmrestore"]),
        .library(name: "Restoration", targets: ["Restoration"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CFFmpeg",
            pkgConfig: "libavformat libavcodec libavutil libswscale",
            providers: [.apt(["libavformat-dev", "libavcodec-dev", "libavutil-dev", "libswscale-dev"])]),
        .systemLibrary(
            name: "CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        // the one lock type, shared by FilmCore (which re-exports it) and TensorCore
        .target(name: "Locking", swiftSettings: v6),
        .target(name: "FilmCore", dependencies: ["Locking"], swiftSettings: v6),
        .target(
            name: "MediaIO", dependencies: ["CFFmpeg", "FilmCore", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: v6),
        // the SIMD kernels: C compiled for baseline x86-64, AVX2 and AVX-512, chosen at run time (only TensorCore imports it)
        .target(name: "CKernels"),
        // oneDNN (Debian's libdnnl-dev, C API 2.x) behind a small C bridge: the bf16 convolution path
        .target(name: "COneDNN", linkerSettings: [.linkedLibrary("dnnl"), .linkedLibrary("gomp")]),
        .target(name: "TensorCore", dependencies: ["CBLAS", "CKernels", "COneDNN", "Locking"], swiftSettings: v6),
        .target(name: "Networks", dependencies: ["TensorCore", "FilmCore"], swiftSettings: v6),
        .target(
            name: "Restoration",
            dependencies: ["FilmCore", "MediaIO", "TensorCore", "Networks", .product(name: "Yams", package: "Yams")],
            swiftSettings: v6),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // `filmrestore serve`: the browser workbench (Hummingbird 2 on swift-nio; the job queue in SQLite)
        .target(
            name: "Workbench",
            dependencies: [
                "Restoration", "MediaIO", "FilmCore", "CSQLite", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: v6),
        .executableTarget(
            name: "filmrestore",
            dependencies: [
                "Restoration", "MediaIO", "FilmCore", "TensorCore", "Workbench",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: v6),
        .target(name: "TestSupport", dependencies: ["FilmCore", "MediaIO", "Restoration"], swiftSettings: v6),
        .testTarget(name: "FilmCoreTests", dependencies: ["FilmCore", "TestSupport"], swiftSettings: v6),
        .testTarget(
            name: "TensorCoreTests", dependencies: ["TensorCore", "Networks", "TestSupport"], swiftSettings: v6),
        .testTarget(name: "MediaIOTests", dependencies: ["MediaIO", "FilmCore", "TestSupport"], swiftSettings: v6),
        .testTarget(
            name: "RestorationTests",
            dependencies: ["Restoration", "MediaIO", "Networks", "TensorCore", "TestSupport"], swiftSettings: v6),
        .testTarget(
            name: "CLITests",
            dependencies: [
                "filmrestore", "TestSupport", "MediaIO", "FilmCore", "Restoration", "Workbench",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: v6),
    ]
)
