// `skiff proxy`: Services and EndpointSlices in, iptables out. The first sync writes every
// chain; later ones only the chains whose rules changed (one iptables-restore --noflush each
// time, so a reader never sees half a ruleset). The jumps from the built-in chains are ensured
// separately, and a canary chain tells when someone flushed our tables: then all is rewritten.
import API
import Client
import Foundation
import Network

public struct ProxyOptions: Sendable {
    public var server: String
    public var clusterCIDR: String? = "10.244.0.0/16"
    /// How long a change waits for others before a sync (batches bursts).
    public var minSyncInterval: Double = 0.05
    public init(server: String) { self.server = server }
}

/// Running iptables tools (the binaries do their own locking with -w).
public enum IPTables {
    /// A named network namespace (`ip netns`) to work in instead of our own: tests and the benchmark.
    nonisolated(unsafe) public static var namespace: String?

    /// The iptables variant: "" (the system's choice), "-legacy" or "-nft".
    nonisolated(unsafe) public static var variant = ""

    public static func run(_ args: [String], input: String? = nil) -> (status: Int32, output: String) {
        var name = args[0]
        if !variant.isEmpty, let dash = name.firstIndex(of: "-") { name = String(name[..<dash]) + variant + String(name[dash...]) }
        else if !variant.isEmpty { name += variant }
        let tool = name.hasPrefix("/") ? name : "/usr/sbin/" + name
        let bytes = input.map { Array($0.utf8) }
        let r = namespace.map { HostCommand.run("/usr/sbin/ip", ["netns", "exec", $0, tool] + args.dropFirst(), input: bytes) }
            ?? HostCommand.run(tool, Array(args.dropFirst()), input: bytes)
        return (r.status, r.stdout + r.stderr)
    }

    /// The jumps into our chains from the built-in ones (kube-proxy's).
    static let jumps: [(table: String, chain: String, rule: [String])] = [
        ("nat", "PREROUTING", ["-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"]),
        ("nat", "OUTPUT", ["-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"]),
        ("nat", "POSTROUTING", ["-m", "comment", "--comment", "kubernetes postrouting rules", "-j", "KUBE-POSTROUTING"]),
        ("filter", "INPUT", ["-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"]),
        ("filter", "OUTPUT", ["-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"]),
        ("filter", "FORWARD", ["-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"]),
    ]

    static let canary = "KUBE-PROXY-CANARY"

    static func ensureJumps() {
        for j in jumps where run(["iptables", "-w", "-t", j.table, "-C", j.chain] + j.rule).status != 0 {
            _ = run(["iptables", "-w", "-t", j.table, "-I", j.chain, "1"] + j.rule)
        }
    }

    /// Removes every chain and jump this proxy makes (`skiff proxy --cleanup`).
    public static func cleanup() {
        for j in jumps { while run(["iptables", "-w", "-t", j.table, "-D", j.chain] + j.rule).status == 0 {} }
        for table in ["nat", "filter"] {
            let saved = run(["iptables-save", "-t", table]).output
            let chains = saved.split(separator: "\n").compactMap { line -> String? in
                guard line.hasPrefix(":KUBE-") else { return nil }
                return String(line.dropFirst().split(separator: " ").first ?? "")
            }
            guard !chains.isEmpty else { continue }
            var payload = "*\(table)\n" + chains.map { ":\($0) - [0:0]" }.joined(separator: "\n") + "\n"
            payload += chains.map { "-X \($0)" }.joined(separator: "\n") + "\nCOMMIT\n"
            _ = run(["iptables-restore", "-w", "--noflush"], input: payload)
        }
    }
}

public final class Proxier: @unchecked Sendable {
    let options: ProxyOptions
    let log: (String) -> Void
    private var applied: RuleSet?
    private var lastCanaryCheck = Date()
    /// How often a sync checks that nobody flushed our chains.
    public var canaryInterval: Double = 10
    private let changed = DispatchSemaphore(value: 0)
    /// Last sync duration and payload size (for /metrics and the benchmark).
    public private(set) var lastSync: (seconds: Double, bytes: Int) = (0, 0)

    public init(options: ProxyOptions, log: @escaping (String) -> Void) {
        self.options = options
        self.log = log
    }

    /// Writes `rules` (only what changed since the last successful apply, unless the canary is gone).
    @discardableResult
    public func apply(_ rules: RuleSet) -> Bool {
        let start = Date()
        // The canary is looked at every 10 s (as kube-proxy's is), not on every sync: each look is a process.
        var full = applied == nil
        if !full && Date().timeIntervalSince(lastCanaryCheck) >= canaryInterval {
            lastCanaryCheck = Date()
            full = IPTables.run(["iptables", "-w", "-t", "nat", "-S", IPTables.canary]).status != 0
        }
        if full { applied = nil }
        var withCanary = rules
        withCanary.nat[IPTables.canary] = []
        let payload = ProxyRules.payload(withCanary, previous: applied)
        if payload.isEmpty { return true }
        let r = IPTables.run(["iptables-restore", "-w", "--noflush"], input: payload)
        if r.status != 0 {
            log("iptables-restore failed (\(r.output.trimmingCharacters(in: .whitespacesAndNewlines))); the next sync writes everything")
            applied = nil
            return false
        }
        // The jumps into our chains, once the chains exist.
        if full { IPTables.ensureJumps() }
        applied = withCanary
        lastSync = (Date().timeIntervalSince(start), payload.utf8.count)
        return true
    }

    /// Watches Services and EndpointSlices and syncs on every change, forever.
    public func run() -> Never {
        let services = Informer(server: options.server, path: "/api/v1/services")
        let slices = Informer(server: options.server, path: "/apis/discovery.k8s.io/v1/endpointslices")
        for inf in [services, slices] { inf.onEvent { [self] _ in changed.signal() } }
        services.start()
        slices.start()
        services.waitForSync()
        slices.waitForSync()
        log("proxy syncing services from \(options.server)")
        var timer = Date()
        while true {
            if apply(ProxyRules.render(Self.servicePorts(services: services.items, slices: slices.items), clusterCIDR: options.clusterCIDR)) {
                if Date().timeIntervalSince(timer) > 60 { timer = Date(); log("synced in \(Int(lastSync.seconds * 1000)) ms") }
            }
            // Wake on a change (or every 10 s: the canary check), then let a burst settle.
            _ = changed.wait(timeout: .now() + 10)
            Thread.sleep(forTimeInterval: options.minSyncInterval)
            while changed.wait(timeout: .now()) == .success {}
        }
    }

    /// Services with a cluster IP, each port with its ready endpoints from the service's slices.
    public static func servicePorts(services: [JSONValue], slices: [JSONValue]) -> [ServicePort] {
        var byService: [String: [JSONValue]] = [:]
        for s in slices {
            guard let svc = s["metadata"]?["labels"]?["kubernetes.io/service-name"]?.stringValue else { continue }
            byService[(s["metadata"]?["namespace"]?.stringValue ?? "") + "/" + svc, default: []].append(s)
        }
        var out: [ServicePort] = []
        for svc in services {
            let meta = svc["metadata"] ?? .null, spec = svc["spec"] ?? .null
            guard let ip = spec["clusterIP"]?.stringValue, ip != "None", !ip.isEmpty else { continue }
            let ns = meta["namespace"]?.stringValue ?? "", name = meta["name"]?.stringValue ?? ""
            let affinity = spec["sessionAffinity"]?.stringValue == "ClientIP"
                ? Int(spec["sessionAffinityConfig"]?["clientIP"]?["timeoutSeconds"]?.intValue ?? 10800) : nil
            for port in spec["ports"]?.arrayValue ?? [] {
                let portName = port["name"]?.stringValue ?? ""
                let proto = port["protocol"]?.stringValue ?? "TCP"
                var endpoints: [ServicePort.Endpoint] = []
                for slice in byService[ns + "/" + name] ?? [] {
                    guard let sp = (slice["ports"]?.arrayValue ?? []).first(where: { ($0["name"]?.stringValue ?? "") == portName && ($0["protocol"]?.stringValue ?? "TCP") == proto }),
                          let target = sp["port"]?.intValue else { continue }
                    for ep in slice["endpoints"]?.arrayValue ?? [] where ep["conditions"]?["ready"]?.boolValue != false {
                        for addr in (ep["addresses"]?.arrayValue ?? []).compactMap(\.stringValue) { endpoints.append(.init(ip: addr, port: Int(target))) }
                    }
                }
                out.append(ServicePort(namespace: ns, service: name, portName: portName, protocolName: proto, clusterIP: ip,
                                       port: Int(port["port"]?.intValue ?? 0), nodePort: port["nodePort"]?.intValue.map { Int($0) },
                                       affinitySeconds: affinity, endpoints: endpoints))
            }
        }
        return out
    }
}
