// swift-tools-version:6.0
import PackageDescription

// The layering of docs/DESIGN.md: transport (CLibSSH2, SSHClient) → client operations (Sessions) → CLI (pss).
// Fixtures share state across a test class (one sshd per class); Swift 5 mode keeps XCTest's class setUp simple.
let testSettings: [SwiftSetting] = [.swiftLanguageMode(.v5)]

let package = Package(
    name: "pss",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "pss", targets: ["pss"]),
        .executable(name: "pss-host", targets: ["pss-host"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibSSH2",
            pkgConfig: "libssh2",
            providers: [.apt(["libssh2-1-dev"])]
        ),
        // zlib (a dependency of libssh2's): the helper travels gzip-compressed to hosts without xz.
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        // Batches libssh2 1.10's one-block-at-a-time AES-CTR calls (see its source); linked wherever libssh2 is.
        .target(name: "CKeystreamBatching", linkerSettings: [.linkedLibrary("crypto"), .linkedLibrary("dl")]),
        .target(
            name: "SSHClient",
            dependencies: ["CLibSSH2", "CKeystreamBatching", .product(name: "Logging", package: "swift-log")]
        ),
        // Optimised in debug builds too: it hashes the multi-megabyte helper, which takes seconds unoptimised.
        .target(name: "SessionWire", swiftSettings: [.unsafeFlags(["-O"])]),
        .target(name: "SessionHost", dependencies: ["SessionWire"]),
        .executableTarget(
            name: "pss-host",
            dependencies: ["SessionHost", "SessionWire"],
            // Uploaded to servers that have no Swift and any libc (glibc of any age, musl, none at all): one static
            // program, needing only the kernel. Nothing in it may use glibc's NSS (AccountDatabase reads accounts).
            linkerSettings: [.unsafeFlags(["-static-executable", "-Xlinker", "--gc-sections"])]
        ),
        .target(
            name: "Sessions",
            dependencies: ["SSHClient", "SessionWire", "CZlib", .product(name: "Logging", package: "swift-log")]
        ),
        .executableTarget(
            name: "pss",
            dependencies: [
                "SSHClient", "Sessions",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // Tests by level: unit tests per module, end-to-end tests that run the real `pss` against real sshd.
        .target(name: "TestSupport", dependencies: ["SessionWire"], path: "Tests/TestSupport", swiftSettings: testSettings),
        .target(name: "CKeystreamCheck", dependencies: ["CKeystreamBatching"], path: "Tests/CKeystreamCheck"),
        .testTarget(name: "SSHClientTests", dependencies: ["SSHClient", "CLibSSH2", "CKeystreamCheck", "TestSupport"], swiftSettings: testSettings),
        .testTarget(name: "SessionsTests", dependencies: ["Sessions"], swiftSettings: testSettings),
        .testTarget(name: "SessionWireTests", dependencies: ["SessionWire"], swiftSettings: testSettings),
        .testTarget(name: "SessionHostTests", dependencies: ["SessionHost", "SessionWire"], swiftSettings: testSettings),
        // SessionWire: a few tests speak the protocol themselves, as a hostile client or a foreign helper would.
        .testTarget(name: "EndToEndTests", dependencies: ["TestSupport", "SessionWire"], swiftSettings: testSettings),
    ]
)
