// swift-tools-version:6.0
import PackageDescription

// The per-request path runs on one thread per loop and never shares a buffer between threads;
// runtime exclusivity checks cost ~10% of proxy CPU there (measured with perf), so release
// builds leave them to the compiler's static checks. Debug and test builds keep them.
let hotPath: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "gateway",
    products: [
        .executable(name: "gateway", targets: ["gateway"]),
        .executable(name: "mock-upstream", targets: ["mock-upstream"]),
    ],
    targets: [
        // Thin C seam for what Glibc's Swift module does not expose (epoll, eventfd, accept4, signalfd).
        .target(name: "CSystem"),
        // OpenSSL's libcrypto (hashes) and libssl (TLS) from Debian's libssl-dev, found through pkg-config.
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        // Pure policy and protocol logic: no sockets, no threads, no clock of its own.
        .target(name: "GatewayCore", dependencies: ["COpenSSL"], swiftSettings: hotPath),
        // Everything that touches the OS: event loops, sockets, connections, pools.
        .target(name: "GatewayIO", dependencies: ["GatewayCore", "CSystem", "COpenSSL"], swiftSettings: hotPath),
        .executableTarget(name: "gateway", dependencies: ["GatewayCore", "GatewayIO"]),
        .executableTarget(name: "mock-upstream", dependencies: ["GatewayCore"]),
        // Echo micro-measurement, epoll vs io_uring (not part of the product or the tests).
        .executableTarget(name: "io-echo-bench", dependencies: ["GatewayIO", "CSystem"], swiftSettings: hotPath),
        .testTarget(name: "GatewayCoreTests", dependencies: ["GatewayCore"]),
        .testTarget(name: "GatewayIOTests", dependencies: ["GatewayIO", "COpenSSL"]),
        // The TLS upstream the tests start is a Python script next to the harness that runs it.
        .testTarget(name: "GatewayIntegrationTests", dependencies: ["GatewayCore"], exclude: ["Harness/tls_upstream.py"]),
    ],
    swiftLanguageModes: [.v6]
)
