// Cluster IPs (from the service CIDR, default 10.96.0.0/12) and node ports (default
// 30000-32767) for Services. Each address or port in use is claimed by creating a key in the
// store (/_allocations/...), so masters sharing one store (etcd) never hand out the same one:
// the create is the arbiter. The used sets are loaded on first use and kept in this actor; an
// update keeps what the service had, allocates what it adds and gives back what it drops.
import API
import Foundation
import Store

actor ServiceAllocator {
    let store: any KeyValueStore
    /// Network and size of the service range; .1 is reserved for the `kubernetes` service.
    let network: UInt32
    let size: UInt32
    var usedIPs: Set<UInt32> = []
    var usedPorts: Set<Int64> = []
    var loaded = false
    var nextIP: UInt32
    let portRange: ClosedRange<Int64>
    var nextPort: Int64
    static let ipKeys = "/_allocations/serviceips/"
    static let portKeys = "/_allocations/servicenodeports/"

    init(store: any KeyValueStore, cidr: String = "10.96.0.0/12", nodePorts: ClosedRange<Int64> = 30000...32767) {
        self.store = store
        portRange = nodePorts
        // Random starting points: masters starting together don't contend for the same addresses.
        nextPort = Int64.random(in: nodePorts)
        let parts = cidr.split(separator: "/")
        let bits = UInt32(parts.count == 2 ? Int(parts[1]) ?? 12 : 12)
        network = ServiceAllocator.parseIPv4(String(parts[0])) ?? 0x0A60_0000
        size = bits >= 32 ? 1 : (UInt32(1) << (32 - bits))
        nextIP = size > 4 ? UInt32.random(in: 2..<(size - 1)) : 2
    }

    static func parseIPv4(_ s: String) -> UInt32? {
        let octets = s.split(separator: ".").compactMap { UInt32($0) }
        guard octets.count == 4, octets.allSatisfy({ $0 < 256 }) else { return nil }
        return octets.reduce(0) { $0 << 8 | $1 }
    }

    static func format(_ ip: UInt32) -> String { "\(ip >> 24).\(ip >> 16 & 0xff).\(ip >> 8 & 0xff).\(ip & 0xff)" }

    var firstIP: String { ServiceAllocator.format(network + 1) }

    /// The used sets: every service's addresses and ports, and every claim key. A service from
    /// before claims existed gets its keys; a claim no service holds (its master died between
    /// claiming and storing the service) is given back after a minute.
    func load() async throws {
        guard !loaded else { return }
        let type = ResourceRegistry.lookup(groupVersion: "v1", plural: "services")!
        let list = try await store.list(prefix: ResourceStorage.prefix(type), limit: nil, continueAfter: nil, revision: nil)
        var held: [String: String] = [:]   // claim key → "ns/name"
        for kv in list.items {
            guard let svc = try? JSONValue.parse(kv.value) else { continue }
            let owner = Self.owner(svc)
            if let ip = svc["spec"]?["clusterIP"]?.stringValue.flatMap(ServiceAllocator.parseIPv4) { usedIPs.insert(ip); held[Self.ipKeys + Self.format(ip)] = owner }
            for n in Self.nodePorts(svc) { usedPorts.insert(n); held[Self.portKeys + String(n)] = owner }
        }
        let now = Int(Date().timeIntervalSince1970)
        var claimed: Set<String> = []
        for prefix in [Self.ipKeys, Self.portKeys] {
            for kv in try await store.list(prefix: prefix, limit: nil, continueAfter: nil, revision: nil).items {
                claimed.insert(kv.key)
                let since = Int(String(decoding: kv.value, as: UTF8.self).split(separator: " ").first ?? "") ?? 0
                if held[kv.key] == nil && now - since > 60 {
                    _ = try? await store.delete(kv.key, expectedModRevision: kv.modRevision)
                    continue
                }
                let name = String(kv.key.dropFirst(prefix.count))
                if prefix == Self.ipKeys, let ip = Self.parseIPv4(name) { usedIPs.insert(ip) }
                if prefix == Self.portKeys, let n = Int64(name) { usedPorts.insert(n) }
            }
        }
        for (key, owner) in held where !claimed.contains(key) {
            _ = try? await store.create(key, value: Array("\(now) \(owner)".utf8))
        }
        loaded = true
    }

    static func owner(_ svc: JSONValue) -> String {
        (svc["metadata"]?["namespace"]?.stringValue ?? "") + "/" + (svc["metadata"]?["name"]?.stringValue ?? "")
    }

    /// Claims `key` in the store for `svc`: false when another master (or service) has it.
    private func claim(_ key: String, for svc: JSONValue) async throws -> Bool {
        do {
            _ = try await store.create(key, value: Array("\(Int(Date().timeIntervalSince1970)) \(Self.owner(svc))".utf8))
            return true
        } catch let e as StoreError where e.code == .alreadyExists {
            return false
        }
    }

    private func claimIP(_ ip: UInt32, for svc: JSONValue) async throws -> Bool {
        usedIPs.insert(ip)
        do {
            return try await claim(Self.ipKeys + Self.format(ip), for: svc)
        } catch { usedIPs.remove(ip); throw error }
    }

    private func claimPort(_ port: Int64, for svc: JSONValue) async throws -> Bool {
        usedPorts.insert(port)
        do {
            return try await claim(Self.portKeys + String(port), for: svc)
        } catch { usedPorts.remove(port); throw error }
    }

    private func freeIP(_ ip: UInt32) async {
        usedIPs.remove(ip)
        _ = try? await store.delete(Self.ipKeys + Self.format(ip), expectedModRevision: nil)
    }

    private func freePort(_ port: Int64) async {
        usedPorts.remove(port)
        _ = try? await store.delete(Self.portKeys + String(port), expectedModRevision: nil)
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
                    guard !usedIPs.contains(r), try await claimIP(r, for: svc) else {
                        throw APIError(.invalid(group: "", kind: "Service", name: name, errors: [
                            FieldError(.invalid, field: "spec.clusterIPs", value: requested, detail: "provided IP is already allocated")]))
                    }
                    ip = r
                } else {
                    var found: UInt32?
                    while found == nil, let free = nextFreeIP() {
                        if try await claimIP(free, for: svc) { found = free }
                    }
                    guard let found else { throw APIError.internalError("failed to allocate a serviceIP: range is full") }
                    ip = found
                }
                taken = ip
                svc["spec"]?["clusterIP"] = .string(ServiceAllocator.format(ip))
                svc["spec"]?["clusterIPs"] = [.string(ServiceAllocator.format(ip))]
            }
        }
        do { _ = try await allocateNodePorts(&svc, keeping: []) }
        catch { if let taken { await freeIP(taken) }; throw error }
    }

    /// Node ports for a NodePort/LoadBalancer service: a requested one must be in range and free
    /// (or in `keeping`, the ones this service already holds); the others are drawn. Returns the
    /// ports newly taken.
    private func allocateNodePorts(_ svc: inout JSONValue, keeping: Set<Int64>) async throws -> [Int64] {
        let type = svc["spec"]?["type"]?.stringValue ?? "ClusterIP"
        let name = svc["metadata"]?["name"]?.stringValue ?? ""
        guard type == "NodePort" || type == "LoadBalancer", case .array(var ports)? = svc["spec"]?["ports"] else { return [] }
        var taken: [Int64] = []
        func refuse(_ i: Int, _ n: Int64, _ detail: String) async -> APIError {
            for p in taken { await freePort(p) }
            return APIError(.invalid(group: "", kind: "Service", name: name, errors: [
                FieldError(.invalid, field: "spec.ports[\(i)].nodePort", value: String(n), detail: detail)]))
        }
        do {
            for i in ports.indices {
                if let n = ports[i]["nodePort"]?.intValue, n != 0 {
                    if keeping.contains(n) { continue }
                    guard portRange.contains(n) else {
                        throw await refuse(i, n, "provided port is not in the valid range. The range of valid ports is \(portRange.lowerBound)-\(portRange.upperBound)")
                    }
                    guard !usedPorts.contains(n), try await claimPort(n, for: svc) else { throw await refuse(i, n, "provided port is already allocated") }
                    taken.append(n)
                } else {
                    var found: Int64?
                    while found == nil, let p = nextFreePort() {
                        if try await claimPort(p, for: svc) { found = p }
                    }
                    guard let found else {
                        throw APIError.internalError("failed to allocate a nodePort for service \(name): range \(portRange.lowerBound)-\(portRange.upperBound) is full")
                    }
                    taken.append(found)
                    ports[i]["nodePort"] = .int(found)
                }
            }
        } catch let e as APIError where e.status.code == 422 {
            throw e   // (refuse gave the ports back)
        } catch {
            for p in taken { await freePort(p) }
            throw error
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
        return try await allocateNodePorts(&new, keeping: held)
    }

    /// After a stored update: the node ports `old` held and `new` no longer does.
    func releaseDropped(old: JSONValue, new: JSONValue) async {
        for p in Self.nodePorts(old).subtracting(Self.nodePorts(new)) { await freePort(p) }
    }

    func release(ports: [Int64]) async { for p in ports { await freePort(p) } }

    static func nodePorts(_ svc: JSONValue) -> Set<Int64> {
        Set((svc["spec"]?["ports"]?.arrayValue ?? []).compactMap { $0["nodePort"]?.intValue }.filter { $0 != 0 })
    }

    func release(_ svc: JSONValue) async {
        if let ip = svc["spec"]?["clusterIP"]?.stringValue.flatMap(ServiceAllocator.parseIPv4) { await freeIP(ip) }
        for n in Self.nodePorts(svc) { await freePort(n) }
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
