// Cluster IPs (from the service CIDR, default 10.96.0.0/12) and node ports (30000-32767) for
// Services. The used sets are loaded from the store on first use and kept in this actor, so
// concurrent creates never hand out the same address.
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
    var nextPort: Int64 = 30000

    init(store: any KeyValueStore, cidr: String = "10.96.0.0/12") {
        self.store = store
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
                svc["spec"]?["clusterIP"] = .string(ServiceAllocator.format(ip))
                svc["spec"]?["clusterIPs"] = [.string(ServiceAllocator.format(ip))]
            }
        }
        if type == "NodePort" || type == "LoadBalancer", case .array(var ports)? = svc["spec"]?["ports"] {
            for i in ports.indices {
                if let n = ports[i]["nodePort"]?.intValue, n != 0 {
                    guard !usedPorts.contains(n) else {
                        throw APIError(.invalid(group: "", kind: "Service", name: name, errors: [
                            FieldError(.invalid, field: "spec.ports[\(i)].nodePort", value: String(n), detail: "provided port is already allocated")]))
                    }
                    usedPorts.insert(n)
                } else if let p = nextFreePort() {
                    usedPorts.insert(p)
                    ports[i]["nodePort"] = .int(p)
                }
            }
            svc["spec"]?["ports"] = .array(ports)
        }
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
        for _ in 0..<2768 {
            let candidate = nextPort
            nextPort = nextPort >= 32767 ? 30000 : nextPort + 1
            if !usedPorts.contains(candidate) { return candidate }
        }
        return nil
    }
}
