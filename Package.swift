// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "ctdeid",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "ctdeid", targets: ["Daemon"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.19"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
    ],
    targets: [
        // Thin C API over DCMTK (C++). Every decision is made in Swift.
        .target(
            name: "CDCMTK",
            path: "Sources/CDCMTK",
            cxxSettings: [.define("HAVE_CONFIG_H", to: "0")],
            linkerSettings: [
                .linkedLibrary("dcmjpls"), .linkedLibrary("dcmjpeg"), .linkedLibrary("dcmimgle"), .linkedLibrary("dcmimage"),
                .linkedLibrary("ijg8"), .linkedLibrary("ijg12"), .linkedLibrary("ijg16"),
                .linkedLibrary("dcmtkcharls"),
                .linkedLibrary("dcmdata"), .linkedLibrary("oflog"), .linkedLibrary("ofstd"),
            ]
        ),
        // SHA-256 on the CPU's SHA extensions, two streams of the same bytes at once (input and output).
        .target(name: "CSHA256", path: "Sources/CSHA256"),
        .systemLibrary(name: "CSystemd", path: "Sources/CSystemd", pkgConfig: "libsystemd"),
        // Tesseract's C API (OCR of candidate burned-in text), Debian's libtesseract-dev.
        .systemLibrary(name: "CTesseract", path: "Sources/CTesseract"),
        // OpenJPEG's C API (JPEG 2000 frames, which DCMTK does not decode), Debian's libopenjp2-7-dev.
        .systemLibrary(name: "COpenJPEG", path: "Sources/COpenJPEG", pkgConfig: "libopenjp2"),
        .target(
            name: "Engine",
            dependencies: [
                "CDCMTK", "CSHA256", "CTesseract", "COpenJPEG",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // Optimised in debug builds too: the end-to-end tests run the debug binary on real head
            // series, where unoptimised Swift defaces about 20 times slower.
            swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]
        ),
        // Synthetic CT studies with planted PHI: used by tests, `make demo` and `make bench`.
        .target(name: "Fixtures", dependencies: []),
        .executableTarget(
            name: "Daemon",
            dependencies: [
                "Engine", "Fixtures", "CSystemd",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // libFuzzer target over the per-file path (`make fuzz`); replays files in ordinary builds.
        .systemLibrary(name: "CLibFuzzer", path: "Sources/CLibFuzzer"),
        .executableTarget(name: "FuzzDeidentify", dependencies: ["Engine", "Fixtures", "CLibFuzzer"], exclude: ["dicom.dict"]),
        .testTarget(
            name: "EngineTests",
            dependencies: [
                "Engine", "Fixtures",
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .testTarget(name: "FixturesTests", dependencies: ["Fixtures"]),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["Engine", "Fixtures", .product(name: "GRDB", package: "GRDB.swift")]
        ),
    ],
    swiftLanguageModes: [.v6],
    cxxLanguageStandard: .cxx17
)
