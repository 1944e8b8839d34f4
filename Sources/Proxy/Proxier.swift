// `skiff proxy`: Services and EndpointSlices in, kernel rules out, through one of two backends.
// iptables mode: the first sync writes every chain; later ones only the chains whose rules
// changed (one iptables-restore --noflush each time, so a reader never sees half a ruleset); the
// jumps from the built-in chains are ensured separately, and a canary chain tells when someone
// flushed our tables: then all is rewritten. nftables mode (NFTRules): one nft transaction per
// sync through libnftables, element updates for the services that changed.
import API
import CLinux
import CNFTables
import Client
import Foundation
import Network

public enum ProxyMode: String, Sendable, CaseIterable {
    case iptables, nftables
}

public struct ProxyOptions: Sendable {
    public var server: String
    public var clusterCIDR: String? = "10.244.0.0/16"
    /// The least time between two syncs' starts (kube-proxy's minSyncPeriod): a change after a
    /// quiet spell syncs at once, a burst is batched into syncs this far apart.
    public var minSyncInterval: Double = 0.05
    public var mode: ProxyMode = .iptables
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

    /// Removes every chain and jump this proxy makes in iptables mode (`skiff proxy --cleanup`).
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

/// Makes the kernel's rules match a set of service ports.
public protocol ProxyBackend: AnyObject {
    /// `services`: every service port by key (ServicePort.key). `changed`: the keys that may
    /// differ since the last successful sync; nil when unknown (everything is looked at).
    func sync(_ services: [String: ServicePort], changed: Set<String>?) -> Bool
    /// Last sync duration and bytes written (for the log and the benchmark).
    var lastSync: (seconds: Double, bytes: Int) { get }
}

extension ServicePort {
    /// Identifies a service port across syncs: "ns/svc:port/PROTO".
    public var key: String { displayName + "/" + protocolName }
}

/// kube-proxy's iptables mode (ProxyRules) through iptables-restore.
public final class IPTablesBackend: ProxyBackend, @unchecked Sendable {
    let clusterCIDR: String?
    let log: (String) -> Void
    private var applied: RuleSet?
    private var lastCanaryCheck = Date()
    /// How often a sync checks that nobody flushed our chains.
    public var canaryInterval: Double = 10
    public private(set) var lastSync: (seconds: Double, bytes: Int) = (0, 0)

    public init(clusterCIDR: String?, log: @escaping (String) -> Void) {
        self.clusterCIDR = clusterCIDR
        self.log = log
    }

    public func sync(_ services: [String: ServicePort], changed: Set<String>?) -> Bool {
        apply(ProxyRules.render(Array(services.values), clusterCIDR: clusterCIDR))
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
}

/// A libnftables context: nft scripts run in-process as one transaction each, without a process
/// per sync and with the context's cache kept between them.
public final class NFTables: @unchecked Sendable {
    private let ctx: UnsafeMutableRawPointer

    /// `namespace`: a named network namespace (`ip netns`) to work in instead of our own.
    public init(namespace: String? = nil) throws {
        guard skiff_nft_api() != nil else {
            throw ProxyError("libnftables.so.1 is not installed (Debian: apt-get install libnftables1); use --mode iptables")
        }
        var made: UnsafeMutableRawPointer?
        if let namespace {
            // The context's netlink socket belongs to the namespace it is opened in.
            let target = open("/var/run/netns/" + namespace, O_RDONLY | O_CLOEXEC)
            let home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
            defer { if target >= 0 { close(target) }; if home >= 0 { close(home) } }
            guard target >= 0, home >= 0, skiff_setns_net(target) == 0 else { throw ProxyError("cannot enter network namespace \(namespace)") }
            made = skiff_nft_new()
            _ = skiff_setns_net(home)
        } else {
            made = skiff_nft_new()
        }
        guard let made else { throw ProxyError("libnftables: cannot create a context") }
        ctx = made
    }

    deinit { skiff_nft_free(ctx) }

    /// Runs `script`; the error text when it fails.
    @discardableResult
    public func run(_ script: String) -> (ok: Bool, output: String, error: String) {
        let status = skiff_nft_run(ctx, script)
        let output = skiff_nft_output(ctx).map { String(cString: $0) } ?? ""
        let error = skiff_nft_error(ctx).map { String(cString: $0) } ?? ""
        return (status == 0, output, error.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Removes the proxy's table (`skiff proxy --cleanup`).
    public static func cleanup(namespace: String? = nil) {
        guard let nft = try? NFTables(namespace: namespace) else { return }
        nft.run("delete table \(NFTRules.table)")
    }
}

public struct ProxyError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The nftables mode: a full sync writes the skeleton and every service; later syncs only the
/// elements (and affinity chains) of the services that changed.
public final class NFTablesBackend: ProxyBackend, @unchecked Sendable {
    let clusterCIDR: String?
    let log: (String) -> Void
    let nft: NFTables
    private var state = NFTState()
    private var synced = false
    private var lastCanaryCheck = Date()
    /// How often a sync checks that our table is still there (someone may have flushed the ruleset).
    public var canaryInterval: Double = 10
    public private(set) var lastSync: (seconds: Double, bytes: Int) = (0, 0)

    public init(clusterCIDR: String?, namespace: String? = nil, log: @escaping (String) -> Void) throws {
        self.clusterCIDR = clusterCIDR
        self.log = log
        nft = try NFTables(namespace: namespace)
    }

    public func sync(_ services: [String: ServicePort], changed: Set<String>?) -> Bool {
        let start = Date()
        var full = !synced || changed == nil
        if !full && Date().timeIntervalSince(lastCanaryCheck) >= canaryInterval {
            lastCanaryCheck = Date()
            full = !nft.run("list chain \(NFTRules.table) services").ok
            if full { log("our nftables table is gone or changed: writing everything") }
        }
        let script: String
        if full {
            script = state.fullScript(services, clusterCIDR: clusterCIDR)
        } else {
            var changes: [String: ServicePort?] = [:]
            for key in changed ?? [] { changes[key] = .some(services[key]) }
            script = state.update(changes)
        }
        if script.isEmpty { return true }
        let r = nft.run(script)
        if !r.ok {
            log("nft failed (\(r.error.prefix(2000))); the next sync writes everything")
            synced = false
            return false
        }
        synced = true
        lastSync = (Date().timeIntervalSince(start), script.utf8.count)
        return true
    }
}

public final class Proxier: @unchecked Sendable {
    let options: ProxyOptions
    let log: (String) -> Void
    let backend: ProxyBackend
    private let changed = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    /// Services whose ports need recomputing ("ns/name"), and each service's slices by slice key.
    private var dirty: Set<String> = []
    private var slicesByService: [String: [String: JSONValue]] = [:]
    /// The current service ports by key, and which keys each service has.
    private var ports: [String: ServicePort] = [:]
    private var portKeys: [String: [String]] = [:]

    public init(options: ProxyOptions, log: @escaping (String) -> Void) throws {
        self.options = options
        self.log = log
        switch options.mode {
        case .iptables: backend = IPTablesBackend(clusterCIDR: options.clusterCIDR, log: log)
        case .nftables: backend = try NFTablesBackend(clusterCIDR: options.clusterCIDR, log: log)
        }
    }

    /// Watches Services and EndpointSlices and syncs on every change, forever. Only the services
    /// an event touched are recomputed.
    public func run() -> Never {
        let services = Informer(server: options.server, path: "/api/v1/services")
        let slices = Informer(server: options.server, path: "/apis/discovery.k8s.io/v1/endpointslices")
        services.onEvent { [self] event in
            switch event {
            case .added(let o), .deleted(let o), .updated(_, let o): markDirty(objectKey(o))
            }
        }
        slices.onEvent { [self] event in
            switch event {
            case .added(let o), .updated(_, let o): indexSlice(o, present: true)
            case .deleted(let o): indexSlice(o, present: false)
            }
        }
        services.start()
        slices.start()
        services.waitForSync()
        slices.waitForSync()
        log("proxy (\(options.mode.rawValue) mode) syncing services from \(options.server)")
        var timer = Date()
        var first = true
        while true {
            let started = Date()
            lock.lock()
            let work = dirty
            dirty = []
            var changedKeys: Set<String> = []
            for key in work {
                let old = portKeys[key] ?? []
                for k in old { ports[k] = nil }
                let new = services.get(key).map { Self.servicePorts(services: [$0], slices: Array((slicesByService[key] ?? [:]).values)) } ?? []
                for p in new { ports[p.key] = p }
                portKeys[key] = new.isEmpty ? nil : new.map(\.key)
                changedKeys.formUnion(old)
                changedKeys.formUnion(new.map(\.key))
            }
            let snapshot = ports
            lock.unlock()
            if backend.sync(snapshot, changed: first ? nil : changedKeys) {
                first = false
                if Date().timeIntervalSince(timer) > 60 { timer = Date(); log("synced in \(Int(backend.lastSync.seconds * 1000)) ms") }
            } else {
                // Everything is looked at again on the next pass.
                first = true
            }
            // Wake on a change (or every 10 s: the canary check), no sooner than minSyncInterval after this sync began.
            _ = changed.wait(timeout: .now() + 10)
            let wait = options.minSyncInterval - Date().timeIntervalSince(started)
            if wait > 0 { Thread.sleep(forTimeInterval: wait) }
            while changed.wait(timeout: .now()) == .success {}
        }
    }

    private func markDirty(_ serviceKey: String) {
        lock.lock(); dirty.insert(serviceKey); lock.unlock()
        changed.signal()
    }

    private func indexSlice(_ slice: JSONValue, present: Bool) {
        guard let svc = slice["metadata"]?["labels"]?["kubernetes.io/service-name"]?.stringValue else { return }
        let serviceKey = (slice["metadata"]?["namespace"]?.stringValue ?? "") + "/" + svc
        lock.lock()
        slicesByService[serviceKey, default: [:]][objectKey(slice)] = present ? slice : nil
        if slicesByService[serviceKey]?.isEmpty == true { slicesByService[serviceKey] = nil }
        dirty.insert(serviceKey)
        lock.unlock()
        changed.signal()
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
