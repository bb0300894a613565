// swift-tools-version: 6.1
import PackageDescription

// Dependencies point one way: maelstromd → MaelstromTun → (CTun, CPrivilege, MaelstromSecurity → MaelstromCore).
// maelstromd → MaelstromSplit → (CRelay, MaelstromConfig, MaelstromTun) terminates split TCP connections.
// maelstromd → MaelstromCapture → (CPcap, MaelstromCore) reads capture files for `maelstromd trace`.
// MaelstromCore makes no syscalls and reads no clock, so the same protocol code runs in
// unit tests, in `maelstromd simulate` and in the daemon.
// The packet path's modules are built with cross-module optimization, so the generic gateway and
// lane loop are specialised for the daemon's concrete seams instead of looking up generic
// metadata on every call, and without dynamic exclusivity checks in release builds (debug builds,
// which the tests run, keep them): both measured in docs/GATEWAY.md.
let packetPath: [SwiftSetting] = [
    .unsafeFlags(["-cross-module-optimization", "-enforce-exclusivity=unchecked"], .when(configuration: .release))
]

let package = Package(
    name: "Maelstrom",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "maelstromd", targets: ["maelstromd"]),
        .executable(name: "maelstrom-wanem", targets: ["maelstrom-wanem"]),
        .executable(name: "maelstrom-fuzz", targets: ["maelstrom-fuzz"]),
        .library(name: "MaelstromCore", targets: ["MaelstromCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
    ],
    targets: [
        .target(name: "MaelstromCore", swiftSettings: packetPath),
        // libsodium: ChaCha20-Poly1305 in place with a detached tag and no allocation, for sealing
        // and opening datagrams on the packet path (swift-crypto allocates per call).
        .systemLibrary(name: "CSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),
        // OpenSSL's AES-256-GCM for sealing frames: its AES-NI/VAES code is 1.5x libsodium's here.
        .target(name: "CAEAD", linkerSettings: [.linkedLibrary("crypto")]),
        // The tunnel's cryptography: keys, the Noise_IKpsk2 handshake and its timers, cookies,
        // anti-replay, and each lane's sealing and opening of frames. No syscalls, no clock.
        .target(
            name: "MaelstromSecurity",
            dependencies: [
                "MaelstromCore", "CSodium", "CAEAD", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: packetPath
        ),
        // The YAML config file → validated settings, with file, line and key in every error.
        .target(
            name: "MaelstromConfig",
            dependencies: [
                "MaelstromCore", "MaelstromSecurity", .product(name: "Yams", package: "Yams"),
            ]
        ),
        .target(
            name: "CTun",
            cSettings: [.define("_GNU_SOURCE")]
        ),
        // Least privilege after setup: no_new_privs, the switch to `user:`, libcap's view of what is left.
        .target(
            name: "CPrivilege",
            cSettings: [.define("_GNU_SOURCE")],
            linkerSettings: [.linkedLibrary("cap")]
        ),
        // libpcap, for reading tcpdump's capture files in `maelstromd trace`.
        .systemLibrary(name: "CPcap", pkgConfig: "libpcap", providers: [.apt(["libpcap-dev"])]),
        // Capture files → packets for the core's `CaptureLossTrace` (the only libpcap user).
        .target(
            name: "MaelstromCapture",
            dependencies: ["CPcap", "MaelstromCore"]
        ),
        .target(
            name: "MaelstromTun",
            dependencies: [
                "CTun", "CPrivilege", "MaelstromCore", "MaelstromSecurity",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: packetPath
        ),
        // IP_TRANSPARENT listeners and connections, splice(2) and resets for the split proxy.
        .target(
            name: "CRelay",
            cSettings: [.define("_GNU_SOURCE")]
        ),
        // Split flow control: the tproxy rules and the relay that terminates TCP at the gateway.
        .target(
            name: "MaelstromSplit",
            dependencies: [
                "CRelay", "MaelstromCore", "MaelstromConfig", "MaelstromTun",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "maelstromd",
            dependencies: [
                "MaelstromSplit",
                "MaelstromCore",
                "MaelstromSecurity",
                "MaelstromTun",
                "MaelstromConfig",
                "MaelstromCapture",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // The test bed's one-way WAN link emulator: delay, rate, loss, through a TUN device.
        .executableTarget(
            name: "maelstrom-wanem",
            dependencies: [
                "MaelstromCore",
                "MaelstromTun",
                "CTun",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The fuzz targets: parsers and state machines driven by arbitrary bytes, with their invariants.
        .target(
            name: "MaelstromFuzzTargets",
            dependencies: ["MaelstromCore", "MaelstromSecurity", "MaelstromConfig"]
        ),
        // libFuzzer's entry (built by scripts/fuzz.sh with -DFUZZING), or a runner over input files.
        .executableTarget(
            name: "maelstrom-fuzz",
            dependencies: ["MaelstromFuzzTargets"]
        ),
        // In-memory fakes and packet builders shared by the test targets.
        .target(
            name: "MaelstromTestKit",
            dependencies: ["MaelstromCore", "MaelstromTun"]
        ),
        // Counts heap allocations made by the calling thread; the zero-allocation checks use it.
        .target(
            name: "CAllocationCounter",
            path: "Tests/CAllocationCounter"
        ),
        .testTarget(
            name: "MaelstromCoreTests",
            dependencies: [
                "MaelstromCore",
                "MaelstromTestKit",
                "CAllocationCounter",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        // The data-plane loop over in-memory seams: slots, flushing, drops, fairness; no root needed.
        .testTarget(
            name: "DataPlaneTests",
            dependencies: ["MaelstromCore", "MaelstromTun", "MaelstromSecurity", "MaelstromTestKit", "CAllocationCounter"]
        ),
        .testTarget(
            name: "MaelstromSecurityTests",
            dependencies: [
                "MaelstromCore", "MaelstromSecurity", "CAllocationCounter",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            resources: [.copy("Vectors")]
        ),
        .testTarget(
            name: "MaelstromConfigTests",
            dependencies: ["MaelstromConfig", "MaelstromCore", "MaelstromSecurity"]
        ),
        // Every committed fuzz corpus file and every input a fuzzer found, through its target.
        .testTarget(
            name: "FuzzRegressionTests",
            dependencies: ["MaelstromFuzzTargets", "MaelstromCore"],
            exclude: ["Corpus", "Findings"]
        ),
        // The split proxy's relay over socket pairs and its nftables text; no root needed.
        .testTarget(
            name: "SplitTests",
            dependencies: ["MaelstromSplit", "MaelstromConfig", "MaelstromCore", "CRelay"]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["MaelstromCore", "MaelstromTun", "MaelstromSecurity", "MaelstromCapture", "CTun"],
            exclude: ["Scripts"]
        ),
    ]
)
