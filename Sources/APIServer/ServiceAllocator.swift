// Cluster IPs (from the service CIDR, default 10.96.0.0/12) and node ports (default
// 30000-32767) for Services. The used sets are loaded from the store on first use and kept in
// this actor, so concurrent creates never hand out the same address; an update keeps what the
// service had, allocates what it adds and gives back what it drops.
import API
import Store

actor ServiceAllocator {
    let store: any KeyValueStore
    /// Network and size of the service range; .1 is reserved for the `kubernetes` service.
    let network: UInt32
    let size: UInt32
    var usedIPs: Set<UInt32> = []
    var usedPorts: Set<Int64> = []
    var loaded = false
    var nextIP: UInt32 = 2
    let portRange: ClosedRange<Int64>
    var nextPort: Int64

    init(store: any KeyValueStore, cidr: String = "10.96.0.0/12", nodePorts: ClosedRange<Int64> = 30000...32767) {
        self.store = store
        portRange = nodePorts
        nextPort = nodePorts.lowerBound
        let parts = cidr.split(separator: "/")
        let bits = UInt32(parts.count == 2 ? Int(parts[1]) ?? 12 : 12)
        network = ServiceAllocator.parseIPv4(String(parts[0])) ?? 0x0A60_0000
        size = bits >= 32 ? 1 : (UInt32(1) << (32 - bits))
    }

    static func parseIPv4(_ s: String) -> UInt32? {
        let octets = s.split(separator: ".").compactMap { UInt32($0) }
        guard octets.count == 4, octets.allSatisfy({ $0 < 256 }) else { return nil }
        return octets.reduce(0) { $0 << 8 | $1 }
    }

    static func format(_ ip: UInt32) -> String { "\(ip >> 24).\(ip >> 16 & 0xff).\(ip >> 8 & 0xff).\(ip & 0xff)" }

    var firstIP: String { ServiceAllocator.format(network + 1) }

    func load() async throws {
        guard !loaded else { return }
        let type = ResourceRegistry.lookup(groupVersion: "v1", plural: "services")!
        let list = try await store.list(prefix: ResourceStorage.prefix(type), limit: nil, continueAfter: nil, revision: nil)
        for kv in list.items {
            guard let svc = try? JSONValue.parse(kv.value) else { continue }
            if let ip = svc["spec"]?["clusterIP"]?.stringValue.flatMap(ServiceAllocator.parseIPv4) { usedIPs.insert(ip) }
            for p in svc["spec"]?["ports"]?.arrayValue ?? [] { if let n = p["nodePort"]?.intValue, n != 0 { usedPorts.insert(n) } }
        }
        loaded = true
    }

    /// Sets spec.clusterIP(s) and node ports; an address the client chose must be free and in range.
    func allocate(_ svc: inout JSONValue) async throws {
        try await load()
        let type = svc["spec"]?["type"]?.stringValue ?? "ClusterIP"
        let name = svc["metadata"]?["name"]?.stringValue ?? ""
        var taken: UInt32?
        if type != "ExternalName" {
            let requested = svc["spec"]?["clusterIP"]?.stringValue ?? ""
            if requested == "None" {
                svc["spec"]?["clusterIPs"] = ["None"]
            } else {
                let ip: UInt32
                if !requested.isEmpty {
                    guard let r = ServiceAllocator.parseIPv4(requested), r > network, r < network + size - 1 else {
                        throw APIError(.invalid(group: "", kind: "Service", name: name, errors: [
                            FieldError(.invalid, field: "spec.clusterIPs", value: requested,
                                       detail: "provided IP is not in the valid range. The range of valid IPs is \(ServiceAllocator.format(network))/\(32 - size.trailingZeroBitCount)")]))
                    }
                    guard !usedIPs.contains(r) else {
                        throw APIError(.invalid(group: "", kind: "Service", name: name, errors: [
                            FieldError(.invalid, field: "spec.clusterIPs", value: requested, detail: "provided IP is already allocated")]))
                    }
                    ip = r
                } else {
                    guard let free = nextFreeIP() else { throw APIError.internalError("failed to allocate a serviceIP: range is full") }
                    ip = free
                }
                usedIPs.insert(ip)
                taken = ip
                svc["spec"]?["clusterIP"] = .string(ServiceAllocator.format(ip))
                svc["spec"]?["clusterIPs"] = [.string(ServiceAllocator.format(ip))]
            }
        }
        do { _ = try allocateNodePorts(&svc, keeping: []) }
        catch { if let taken { usedIPs.remove(taken) }; throw error }
    }

    /// Node ports for a NodePort/LoadBalancer service: a requested one must be in range and free
    /// (or in `keeping`, the ones this service already holds); the others are drawn. Returns the
    /// ports newly taken.
    private func allocateNodePorts(_ svc: inout JSONValue, keeping: Set<Int64>) throws -> [Int64] {
        let type = svc["spec"]?["type"]?.stringValue ?? "ClusterIP"
        let name = svc["metadata"]?["name"]?.stringValue ?? ""
        guard type == "NodePort" || type == "LoadBalancer", case .array(var ports)? = svc["spec"]?["ports"] else { return [] }
        var taken: [Int64] = []
        func refuse(_ i: Int, _ n: Int64, _ detail: String) -> APIError {
            for p in taken { usedPorts.remove(p) }
            return APIError(.invalid(group: "", kind: "Service", name: name, errors: [
                FieldError(.invalid, field: "spec.ports[\(i)].nodePort", value: String(n), detail: detail)]))
        }
        for i in ports.indices {
            if let n = ports[i]["nodePort"]?.intValue, n != 0 {
                if keeping.contains(n) { continue }
                guard portRange.contains(n) else {
                    throw refuse(i, n, "provided port is not in the valid range. The range of valid ports is \(portRange.lowerBound)-\(portRange.upperBound)")
                }
                guard !usedPorts.contains(n) else { throw refuse(i, n, "provided port is already allocated") }
                usedPorts.insert(n)
                taken.append(n)
            } else {
                guard let p = nextFreePort() else {
                    for p in taken { usedPorts.remove(p) }
                    throw APIError.internalError("failed to allocate a nodePort for service \(name): range \(portRange.lowerBound)-\(portRange.upperBound) is full")
                }
                usedPorts.insert(p)
                taken.append(p)
                ports[i]["nodePort"] = .int(p)
            }
        }
        svc["spec"]?["ports"] = .array(ports)
        return taken
    }

    /// An update: what the client left out is carried over from `old` (the cluster IPs; each
    /// port's node port, matched by port number and protocol), node ports the update adds are
    /// allocated, and a type without node ports drops them. Returns the ports newly taken (give
    /// them back with `release(ports:)` if the write fails).
    func reallocate(_ new: inout JSONValue, old: JSONValue) async throws -> [Int64] {
        try await load()
        let type = new["spec"]?["type"]?.stringValue ?? "ClusterIP"
        if type != "ExternalName", (new["spec"]?["clusterIP"]?.stringValue ?? "").isEmpty, let ip = old["spec"]?["clusterIP"] {
            new["spec"]?["clusterIP"] = ip
            if let ips = old["spec"]?["clusterIPs"] { new["spec"]?["clusterIPs"] = ips }
        }
        let held = Self.nodePorts(old)
        guard type == "NodePort" || type == "LoadBalancer" else {
            if case .array(var ports)? = new["spec"]?["ports"] {
                for i in ports.indices { ports[i]["nodePort"] = nil }
                new["spec"]?["ports"] = .array(ports)
            }
            return []
        }
        if case .array(var ports)? = new["spec"]?["ports"] {
            let oldPorts = old["spec"]?["ports"]?.arrayValue ?? []
            for i in ports.indices where (ports[i]["nodePort"]?.intValue ?? 0) == 0 {
                let same = oldPorts.first { $0["port"] == ports[i]["port"] && ($0["protocol"]?.stringValue ?? "TCP") == (ports[i]["protocol"]?.stringValue ?? "TCP") }
                if let n = same?["nodePort"], (n.intValue ?? 0) != 0 { ports[i]["nodePort"] = n }
            }
            new["spec"]?["ports"] = .array(ports)
        }
        return try allocateNodePorts(&new, keeping: held)
    }

    /// After a stored update: the node ports `old` held and `new` no longer does.
    func releaseDropped(old: JSONValue, new: JSONValue) {
        for p in Self.nodePorts(old).subtracting(Self.nodePorts(new)) { usedPorts.remove(p) }
    }

    func release(ports: [Int64]) { for p in ports { usedPorts.remove(p) } }

    static func nodePorts(_ svc: JSONValue) -> Set<Int64> {
        Set((svc["spec"]?["ports"]?.arrayValue ?? []).compactMap { $0["nodePort"]?.intValue }.filter { $0 != 0 })
    }

    func release(_ svc: JSONValue) {
        if let ip = svc["spec"]?["clusterIP"]?.stringValue.flatMap(ServiceAllocator.parseIPv4) { usedIPs.remove(ip) }
        for p in svc["spec"]?["ports"]?.arrayValue ?? [] { if let n = p["nodePort"]?.intValue { usedPorts.remove(n) } }
    }

    /// Marks an address as used (the `kubernetes` service at startup).
    func reserve(_ ip: String) async throws {
        try await load()
        if let v = ServiceAllocator.parseIPv4(ip) { usedIPs.insert(v) }
    }

    private func nextFreeIP() -> UInt32? {
        for _ in 0..<(size - 2) {
            let candidate = network + nextIP
            nextIP = nextIP + 1 >= size - 1 ? 2 : nextIP + 1
            if !usedIPs.contains(candidate) { return candidate }
        }
        return nil
    }

    private func nextFreePort() -> Int64? {
        for _ in 0..<portRange.count {
            let candidate = nextPort
            nextPort = nextPort >= portRange.upperBound ? portRange.lowerBound : nextPort + 1
            if !usedPorts.contains(candidate) { return candidate }
        }
        return nil
    }
}
