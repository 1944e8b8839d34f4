// swift-tools-version: 6.0
import Foundation
import PackageDescription

// skiff-monitor is pure C, linked statically (a dynamic glibc alone breaks its 1 MiB RSS budget).
// swiftc still names -lswiftCore when linking; for a static link that must resolve to the
// toolchain's static library (from which nothing is pulled: the monitor references no Swift).
let swiftStaticLibs: String = {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
    for dir in path.split(separator: ":") {
        let swiftc = URL(fileURLWithPath: String(dir)).appendingPathComponent("swiftc").resolvingSymlinksInPath()
        let libs = swiftc.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("lib/swift_static/linux").path
        if FileManager.default.fileExists(atPath: libs) { return libs }
    }
    return "/opt/swift/usr/lib/swift_static/linux"
}()

// One target per concern; dependencies point down only (see ../shared/DESIGN.md).
// C code that runs between clone and exec lives under CShims/ and never calls Swift.
let package = Package(
    name: "skiff",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "skiff", targets: ["skiff"]),
        .executable(name: "skiff-cluster", targets: ["skiff-cluster"]),
        .executable(name: "skiff-monitor", targets: ["skiff-monitor"]),
        .executable(name: "skiffctl", targets: ["skiffctl"]),
        .executable(name: "scheduler-bench", targets: ["scheduler-bench"]),
        .executable(name: "proxy-bench", targets: ["proxy-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // The API server's HTTP/1.1 (keep-alive, chunked watch streams). No TLS yet: loopback only.
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        // YAML manifests and kubeconfig for skiffctl (libyaml underneath).
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        // TLS for the API and node servers; the cluster CA and its certificates; token signatures.
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
        // Metrics: swift-metrics types in every component, exposed in Prometheus' text format on /metrics.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // C: container child setup (namespaces, mounts, caps, seccomp load, exec) and its config parser.
        .target(name: "CShims", path: "CShims/shim"),
        // C: one small process per container: starts it via CShims, owns stdio, writes CRI logs, reaps.
        .executableTarget(name: "skiff-monitor", dependencies: ["CShims"], path: "CShims/monitor",
                          linkerSettings: [.unsafeFlags(["-Xclang-linker", "-static", "-L" + swiftStaticLibs])]),
        // System libraries used by the Swift side only (never by the monitor).
        .systemLibrary(name: "CSeccomp", path: "CShims/seccomp", pkgConfig: "libseccomp",
                       providers: [.apt(["libseccomp-dev"])]),
        .systemLibrary(name: "CZlib", path: "CShims/zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CZstd", path: "CShims/zstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CCrypto", path: "CShims/crypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CSSL", path: "CShims/ssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CLinux", path: "CShims/linux"),
        // libnftables through dlopen (the proxy's nftables mode only).
        .systemLibrary(name: "CNFTables", path: "CShims/nftables"),
        // C: one libcurl GET (curl_easy_setopt is variadic; Swift can't call it).
        .target(name: "CCurl", path: "CShims/curl", linkerSettings: [.linkedLibrary("curl")]),
        .systemLibrary(name: "CSQLite", path: "CShims/sqlite", providers: [.apt(["libsqlite3-dev"])]),

        // Images: OCI content store, digests, tar layers, safe unpacking, OCI layout import.
        .target(name: "Images", dependencies: ["CZlib", "CZstd", "CCrypto", "CLinux"]),
        // Registry: pulling images from OCI/Docker registries (auth, mirrors, verification) into Images.
        .target(name: "Registry", dependencies: ["Images", "API", "YAML", "HTTPTransfer"]),
        // HTTPTransfer: blocking HTTP requests through libcurl (TLS, client certificates, streaming, keep-alive).
        .target(name: "HTTPTransfer", dependencies: ["CCurl"]),
        // Cgroups: v1 and v2 behind one protocol.
        .target(name: "Cgroups"),
        // Runtime: containers — spawn plans, seccomp/capabilities, rootfs, state, monitor control.
        .target(name: "Runtime", dependencies: ["Images", "Cgroups", "CShims", "CSeccomp", "CLinux"]),
        // API: Kubernetes resource types, ObjectMeta, Quantity, selectors, defaulting, validation. No I/O.
        .target(name: "API", exclude: ["Schema"]),
        // Writes Sources/API/Generated from Sources/API/Schema (hack/codegen.sh).
        .executableTarget(name: "codegen"),
        // Telemetry: a Prometheus registry per component (the master's, each agent's), the metric catalog
        // (upstream's names, help and buckets), and the swift-metrics factory that fills the registry.
        .target(name: "Telemetry", dependencies: [
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        // Store: revisioned key-value store with watch; SQLite (embedded) and memory backends.
        .target(name: "Store", dependencies: ["CSQLite", "API", "HTTPTransfer", "CCrypto", "Telemetry"]),
        // MetricsPipeline: metrics-server's scraper and storage — nodes' stats to usage per node and pod.
        .target(name: "MetricsPipeline", dependencies: ["API"]),
        // APIServer: the Kubernetes REST API over Store — routing, CRUD, watch, patch, tables, discovery.
        .target(name: "APIServer", dependencies: [
            "API", "Store", "YAML", "Auth", "MetricsPipeline", "Telemetry",
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        // Auth: the cluster CA and the certificates it issues, authentication (certificates,
        // tokens) and authorization (RBAC, the Node authorizer). Pure policy plus key material.
        .target(name: "Auth", dependencies: [
            "API",
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
        ]),
        // YAML: YAML documents to JSONValue and back (libyaml via Yams).
        .target(name: "YAML", dependencies: ["API", .product(name: "Yams", package: "Yams")]),
        // Client: talking to the API server — HTTP/1.1 client, kubeconfig, manifests.
        .target(name: "Client", dependencies: ["API", "YAML", "HTTPTransfer", "CSSL", "Telemetry"]),
        // Node: the node agent (kubelet) — registration, lease, pod sync over the runtime.
        // Scheduler: filter/score plugins, queue with back-off, a cache with assumed pods, binding.
        .target(name: "Scheduler", dependencies: ["API", "Client", "Telemetry"],
                // The filter/score loops read node fields thousands of times per pod; all writes
                // to the cache happen under its lock, so the runtime exclusivity checks only cost.
                swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"])]),
        // hack/bench/scheduler.sh's in-process part.
        .executableTarget(name: "scheduler-bench", dependencies: ["Scheduler"]),
        // hack/bench/proxy.sh's syncs.
        .executableTarget(name: "proxy-bench", dependencies: ["Proxy"]),
        // Services through iptables, as kube-proxy's iptables mode.
        .target(name: "Proxy", dependencies: ["API", "Client", "Network", "CNFTables", "CLinux"]),
        // Pod networks through CNI plugins (spec 1.0).
        .target(name: "Network", dependencies: ["API", "CLinux"]),
        // DNS: the cluster DNS server — wire codec, records from Services/EndpointSlices/Pods, forwarding.
        .target(name: "DNS", dependencies: [
            "API", "Client",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        // Controllers: ReplicaSet/RC, Deployment, Endpoints(+Slices), node lifecycle, garbage collector.
        .target(name: "Controllers", dependencies: ["API", "Client", "Telemetry"]),
        .target(name: "Node", dependencies: [
            "API", "CLinux", "CZlib", "Client", "Cgroups", "Images", "Network", "Registry", "Runtime", "YAML", "Telemetry",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOWebSocket", package: "swift-nio"),
            "Auth", .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        // skiffctl: the kubectl-style CLI.
        .executableTarget(name: "skiffctl", dependencies: [
            "API", "Client", "YAML", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // SkiffCLI: what both skiff executables share — the state options, output helpers, the error
        // exit and the names of the cluster commands. Runtime and ArgumentParser only.
        .target(name: "SkiffCLI", dependencies: [
            "Runtime", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // skiff: the lean front users type. Runs the container commands (run, exec, ps, logs, kill, rm)
        // itself and execs skiff-cluster for the others; links only the runtime, so it starts fast.
        .executableTarget(name: "skiff", dependencies: [
            "SkiffCLI", "Runtime", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // skiff-cluster: master, node, up, proxy, scheduler, controller-manager, dns, etcd-migrate, image.
        .executableTarget(name: "skiff-cluster", dependencies: [
            "SkiffCLI", "Runtime", "Images", "Registry", "Cgroups", "APIServer", "Store", "HTTPTransfer", "Node", "Scheduler",
            "Controllers", "Proxy", "CLinux", "DNS", "Auth", "Telemetry", .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Shared test helpers: root gating, the locally built busybox image, unique names.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "APITests", dependencies: ["API"]),
        .testTarget(name: "MetricsPipelineTests", dependencies: ["MetricsPipeline", "API"]),
        // The metric catalog and registry, and the work queue's metrics, read back from the exposition.
        .testTarget(name: "TelemetryTests", dependencies: ["Telemetry", "Client", "Store", "TestSupport"]),
        .testTarget(name: "StoreTests", dependencies: ["Store", "TestSupport"]),
        // Runs the real `skiff master` binary and talks HTTP to it (and real kubectl).
        .testTarget(name: "APIServerTests", dependencies: ["API", "Client", "YAML", "TestSupport", "Auth"]),
        .testTarget(name: "ImagesTests", dependencies: ["Images", "TestSupport"]),
        .testTarget(name: "CgroupsTests", dependencies: ["Cgroups", "TestSupport"]),
        .testTarget(name: "RuntimeTests", dependencies: ["Runtime", "TestSupport"]),
        // Root-only kernel tests: gated on getuid() == 0; CI runs as root.
        // Pulls from a real docker-registry on loopback (pushed with skopeo).
        .testTarget(name: "RegistryTests", dependencies: ["Registry", "Images", "API", "TestSupport"]),
        .testTarget(name: "ImagesRootTests", dependencies: ["Images", "CLinux", "TestSupport"]),
        .testTarget(name: "CgroupsRootTests", dependencies: ["Cgroups", "TestSupport"]),
        // The node agent's logic without root (env, volumes layout, cgroup maths, probes, naming).
        .testTarget(name: "NodeTests", dependencies: ["Node", "API", "Client", "Network", "CZlib"]),
        .testTarget(name: "SchedulerTests", dependencies: ["Scheduler", "API", "Client"]),
        .testTarget(name: "ControllersTests", dependencies: ["Controllers", "Client", "API"]),
        // The DNS codec, records and a real server on loopback sockets.
        .testTarget(name: "DNSTests", dependencies: ["DNS", "API", "TestSupport"]),
        .testTarget(name: "ProxyTests", dependencies: ["Proxy", "API", "TestSupport"]),
        // A real master and node agent running pods (root).
        .testTarget(name: "NodeRootTests", dependencies: ["API", "Client", "TestSupport"]),
        .testTarget(name: "RuntimeRootTests", dependencies: ["Runtime", "Images", "Cgroups", "TestSupport"]),
    ]
)
