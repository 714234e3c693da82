// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Tandem",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "tandemd", targets: ["tandemd"]),
        .executable(name: "tandemctl", targets: ["tandemctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.0.0"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.30.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        // /metrics (brings swift-metrics' CoreMetrics; its facade is not used: see docs/architecture.md).
        // 2.4.1 escapes label values (2.3.0 writes them raw: swift-prometheus issue 38).
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // libnl-3, libnl-genl-3 and libnl-route-3 plus <linux/ip_vs.h>.
        .systemLibrary(
            name: "CNetlink",
            pkgConfig: "libnl-genl-3.0",
            providers: [.apt(["libnl-3-dev", "libnl-genl-3-dev", "libnl-route-3-dev"])]
        ),
        // <sys/epoll.h> for the kernel layer's `Posix` wrappers (not in Swift's Glibc module).
        .systemLibrary(name: "CEpoll"),
        // libyaml's event parser, which the config reader builds its own small tree from (C, no
        // Foundation; Debian's libyaml-0-2 at run time).
        .systemLibrary(
            name: "CYAML",
            pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]
        ),
        // Pure logic: no kernel, no I/O beyond reading a config file.
        .target(
            name: "TandemCore",
            dependencies: [
                "CYAML",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Effects on the kernel: IPVS genl, rtnetlink, AF_PACKET.
        .target(
            name: "TandemKernel",
            dependencies: ["CNetlink", "CEpoll", "TandemCore"]
        ),
        // Real-server health checks (TCP, HTTP(S), UDP, exec, agent) and the monitor that runs
        // them at their intervals: used by tandemd and by `tandemctl health check`.
        .target(
            name: "TandemHealth",
            dependencies: [
                "TandemCore", "TandemKernel", "CEpoll",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // Long-running services wiring the core to the kernel.
        .target(
            name: "TandemDaemon",
            dependencies: [
                "TandemCore", "TandemKernel", "TandemHealth", "CEpoll",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // Test doubles of the effect protocols (in-memory address table and IPVS kernel, recording
        // announcement sender, hand-fed route monitor): for test targets only, never linked by
        // tandemd or tandemctl.
        .target(
            name: "TandemTesting",
            dependencies: ["TandemCore", "TandemKernel"]
        ),
        .executableTarget(
            name: "tandemd",
            dependencies: [
                "TandemDaemon",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "tandemctl",
            dependencies: [
                "TandemCore", "TandemKernel", "TandemHealth",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The pair on simulated time, network, kernels and clocks (`PairSimulation`), and the
        // command that runs it in a release build (`tandem-sim`; integration/test-all runs it).
        .target(
            name: "TandemSimulation",
            dependencies: ["TandemCore"]
        ),
        .executableTarget(
            name: "tandem-sim",
            dependencies: [
                "TandemSimulation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "TandemDaemonTests",
            dependencies: [
                "TandemDaemon", "TandemHealth", "TandemCore", "TandemKernel", "TandemTesting",
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            // Golden files, read through #filePath.
            exclude: ["Golden"]
        ),
        .testTarget(
            name: "TandemSimulationTests",
            dependencies: ["TandemSimulation", "TandemCore"]
        ),
        .testTarget(
            name: "TandemKernelTests",
            dependencies: ["TandemKernel", "TandemCore", "TandemTesting"]
        ),
        .testTarget(
            name: "TandemCoreTests",
            dependencies: ["TandemCore", "TandemTesting", .product(name: "Crypto", package: "swift-crypto")],
            resources: [.copy("Fixtures")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
