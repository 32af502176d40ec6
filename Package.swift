// swift-tools-version: 6.0
import PackageDescription

// Optimised in debug builds too: the end-to-end tests run the debug binary on real head series,
// where unoptimised Swift defaces about 20 times slower.
let optimised: [SwiftSetting] = [.unsafeFlags(["-O"], .when(configuration: .debug))]

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
        // DCMTK's dcmnet: a C-STORE/C-ECHO endpoint that hands each received file to a callback.
        .target(
            name: "CReceiver",
            path: "Sources/CReceiver",
            cxxSettings: [.define("HAVE_CONFIG_H", to: "0")],
            linkerSettings: [.linkedLibrary("dcmtls"), .linkedLibrary("dcmnet"), .linkedLibrary("dcmdata"), .linkedLibrary("oflog"), .linkedLibrary("ofstd")]
        ),
        // syncfs(2) and sync_file_range(2), which Swift's Glibc module does not export.
        .target(name: "CPlatform", path: "Sources/CPlatform"),
        // The layers of the engine, each a module that depends only on those below it (a cycle
        // cannot compile). From the floor up:
        // Platform: file names as bytes, POSIX helpers, digests, durability, parallel work.
        .target(name: "Platform", dependencies: ["CPlatform", "CSHA256", .product(name: "Crypto", package: "swift-crypto")],
                swiftSettings: optimised),
        // DICOM: DCMTK's and OpenJPEG's Swift face, files read once, transfer syntaxes.
        .target(name: "DICOM", dependencies: ["Platform", "CDCMTK", "COpenJPEG", "CPlatform"], swiftSettings: optimised),
        // Deidentification: the Annex E profile and its options, the de-identifier, the safety policy.
        .target(name: "Deidentification", dependencies: ["DICOM", "Platform", .product(name: "Crypto", package: "swift-crypto")],
                swiftSettings: optimised),
        // Defacing: head CT volumes, the face mask, the renderings.
        .target(name: "Defacing", dependencies: ["Deidentification", "DICOM", "Platform"], swiftSettings: optimised),
        // Pixels: the pixel plan of a job (face edits and burned-in text masks, each file written once).
        .target(name: "Pixels", dependencies: ["Defacing", "Deidentification", "DICOM", "Platform", "CTesseract"],
                swiftSettings: optimised),
        // Mapping: the accession -> De-identification_ID sheets (.xlsx, .csv).
        .target(name: "Mapping", dependencies: ["Platform", .product(name: "ZIPFoundation", package: "ZIPFoundation")],
                swiftSettings: optimised),
        // Audit: the SQLite audit trail (jobs, files, series, text regions, mappings, the secret's binding).
        .target(name: "Audit", dependencies: ["Pixels", "Mapping", "Deidentification", "Platform",
                                              .product(name: "GRDB", package: "GRDB.swift"),
                                              .product(name: "Crypto", package: "swift-crypto")],
                swiftSettings: optimised),
        // Pipeline: a patient folder's trip from inbox to outbox; `run` and `deface`.
        .target(name: "Pipeline", dependencies: ["Audit", "Pixels", "Defacing", "Deidentification", "Mapping", "DICOM", "Platform"],
                swiftSettings: optimised),
        // Watcher: the inbox, watched (inotify or polling) until a folder settles.
        .target(name: "Watcher", dependencies: ["Platform"], swiftSettings: optimised),
        // Settings: every setting declared once (key, values, default, help); the TOML reader and the
        // shipped commented config follow from it.
        .target(name: "Settings", dependencies: ["Platform", .product(name: "TOMLKit", package: "TOMLKit")],
                swiftSettings: optimised),
        // Receiver: `receive`, the DICOM network endpoint that writes received studies into the inbox.
        .target(name: "Receiver", dependencies: [
            "CReceiver", "Settings", "Deidentification", "DICOM", "Platform",
            .product(name: "Logging", package: "swift-log"), .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "GRDB", package: "GRDB.swift"),
        ], swiftSettings: optimised),
        // ServiceRuntime: `serve` (the service, its configuration, recovery after a crash, its lock).
        .target(name: "ServiceRuntime", dependencies: [
            "Pipeline", "Watcher", "Settings", "Audit", "Pixels", "Defacing", "Deidentification", "Mapping", "DICOM", "Platform",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], swiftSettings: optimised),
        // Synthetic CT studies with planted PHI: used by tests, `make demo` and `make bench`.
        .target(name: "Fixtures", dependencies: []),
        .executableTarget(
            name: "Daemon",
            dependencies: [
                "ServiceRuntime", "Receiver", "Pipeline", "Watcher", "Settings", "Audit", "Pixels", "Defacing", "Deidentification", "Mapping", "DICOM",
                "Platform", "Fixtures", "CSystemd",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // libFuzzer target over the per-file path (`make fuzz`); replays files in ordinary builds.
        .systemLibrary(name: "CLibFuzzer", path: "Sources/CLibFuzzer"),
        .executableTarget(name: "FuzzDeidentify", dependencies: ["Defacing", "Deidentification", "DICOM", "Platform", "Fixtures", "CLibFuzzer"],
                         exclude: ["dicom.dict"]),
        .testTarget(
            name: "EngineTests",
            dependencies: [
                "ServiceRuntime", "Receiver", "Pipeline", "Watcher", "Settings", "Audit", "Pixels", "Defacing", "Deidentification", "Mapping", "DICOM", "Platform", "Fixtures",
                "TestSupport", .product(name: "ZIPFoundation", package: "ZIPFoundation"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        // What the test targets share: temporary trees, the shared test data, a small DICOM reader.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "FixturesTests", dependencies: ["Fixtures", "TestSupport"]),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["ServiceRuntime", "Receiver", "Pipeline", "Watcher", "Settings", "Audit", "Pixels", "Defacing", "Deidentification", "Mapping", "DICOM", "Platform", "Fixtures",
                           "TestSupport", .product(name: "GRDB", package: "GRDB.swift")]
        ),
    ],
    swiftLanguageModes: [.v6],
    cxxLanguageStandard: .cxx17
)
