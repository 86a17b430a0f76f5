// swift-tools-version:6.0
import PackageDescription

// The layering of shared/DESIGN.md: transport (CLibSSH2, SSHClient) → client operations (Sessions) → CLI (pss).
// Fixtures share state across a test class (one sshd per class); Swift 5 mode keeps XCTest's class setUp simple.
let testSettings: [SwiftSetting] = [.swiftLanguageMode(.v5)]

let package = Package(
    name: "pss",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "pss", targets: ["pss"]),
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
        .target(
            name: "SSHClient",
            dependencies: ["CLibSSH2", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "Sessions",
            dependencies: ["SSHClient", .product(name: "Logging", package: "swift-log")]
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
        .target(name: "TestSupport", path: "Tests/TestSupport", swiftSettings: testSettings),
        .testTarget(name: "SSHClientTests", dependencies: ["SSHClient", "CLibSSH2"], swiftSettings: testSettings),
        .testTarget(name: "SessionsTests", dependencies: ["Sessions"], swiftSettings: testSettings),
        .testTarget(name: "EndToEndTests", dependencies: ["TestSupport"], swiftSettings: testSettings),
    ]
)
