// The proxy's nftables mode as pure functions. Where iptables mode needs a chain per service and
// per endpoint (and a kernel that reloads the whole table for any change), this keeps the
// per-service state in maps, so a service change is a handful of element updates:
//
//   services:  ip daddr . l4proto . dport  vmap @service-ips     → goto lb-<N>
//   lb-<N>:    dnat to (ip daddr . l4proto . dport . numgen random mod N) map @endpoints
//              (@endpoints-udp, @endpoints-sctp for the other protocols)
//
// One lb-<N> chain serves every service with N endpoints; node ports go the same way through
// @service-nodeports / nodeport-lb-<N> / @nodeport-endpoints. Services without endpoints are
// REJECTed from @no-endpoint-services; hairpin traffic (a pod reaching itself through its
// service) is masqueraded from @hairpin. ClientIP affinity needs state per endpoint, so only
// those services get chains of their own (as in kube-proxy's nftables mode).
import Foundation

public enum NFTRules {
    public static let table = "ip skiff-proxy"

    /// One service port's share of the ruleset: map/set elements, and (ClientIP affinity only)
    /// its own chains and the dynamic sets that remember clients.
    public struct Fragment: Equatable, Sendable {
        public struct Element: Hashable, Sendable {
            public var set: String
            public var key: String
            public var value: String?
        }
        public var elements: [Element] = []
        public var chains: [String: [String]] = [:]
        public var sets: [String: String] = [:]
        /// The lb-<N> chains its elements jump to.
        public var lbSizes: Set<Int> = []
    }

    /// The fixed part: the table (recreated, so leftovers of any earlier run go), its maps and
    /// sets, and the base chains hooked into nat and filter.
    public static func skeleton(clusterCIDR: String?) -> String {
        let t = table
        // One endpoint map per protocol, each typeof naming its own dport: nft 1.0.6 cannot read
        // back a typeof with th dport after ip daddr (partial syncs must), and a dnat through a map
        // whose data says tcp dport matches TCP only (nft adds `meta l4proto tcp` on its own), so
        // one shared map would leave UDP Services such as kube-dns untranslated.
        let fromOutside = clusterCIDR.map { "ip saddr != \($0) " } ?? ""
        return """
        add table \(t)
        delete table \(t)
        add table \(t)
        add map \(t) service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }
        add map \(t) service-nodeports { type inet_proto . inet_service : verdict ; }
        \(protocols.map { endpointMaps(t, $0) }.joined(separator: "\n"))
        add set \(t) no-endpoint-services { type ipv4_addr . inet_proto . inet_service ; }
        add set \(t) no-endpoint-nodeports { type inet_proto . inet_service ; }
        add set \(t) hairpin { type ipv4_addr . ipv4_addr ; }
        add chain \(t) mark-for-masquerade
        add rule \(t) mark-for-masquerade meta mark set meta mark or 0x4000
        add chain \(t) masquerading
        add rule \(t) masquerading meta mark & 0x4000 == 0 return
        add rule \(t) masquerading meta mark set meta mark xor 0x4000
        add rule \(t) masquerading masquerade fully-random
        add chain \(t) services
        add rule \(t) services \(fromOutside)ip daddr . meta l4proto . th dport @service-ips jump mark-for-masquerade
        add rule \(t) services ip daddr . meta l4proto . th dport vmap @service-ips
        add rule \(t) services fib daddr type local meta l4proto . th dport @service-nodeports jump mark-for-masquerade
        add rule \(t) services fib daddr type local meta l4proto . th dport vmap @service-nodeports
        add chain \(t) reject-services
        add rule \(t) reject-services ip daddr . meta l4proto . th dport @no-endpoint-services reject
        add rule \(t) reject-services fib daddr type local meta l4proto . th dport @no-endpoint-nodeports reject
        add chain \(t) nat-prerouting { type nat hook prerouting priority dstnat ; }
        add rule \(t) nat-prerouting jump services
        add chain \(t) nat-output { type nat hook output priority -100 ; }
        add rule \(t) nat-output jump services
        add chain \(t) nat-postrouting { type nat hook postrouting priority srcnat ; }
        add rule \(t) nat-postrouting ct status dnat ip saddr . ip daddr @hairpin jump mark-for-masquerade
        add rule \(t) nat-postrouting jump masquerading
        add chain \(t) filter-input { type filter hook input priority -10 ; }
        add rule \(t) filter-input ct state new jump reject-services
        add chain \(t) filter-forward { type filter hook forward priority -10 ; }
        add rule \(t) filter-forward ct state new jump reject-services
        add chain \(t) filter-output { type filter hook output priority -10 ; }
        add rule \(t) filter-output ct state new jump reject-services

        """
    }

    static let protocols = ["tcp", "udp", "sctp"]

    /// The endpoint maps of one protocol ("endpoints" for TCP, "endpoints-udp", ...).
    static func endpointMap(_ proto: String, nodePort: Bool = false) -> String {
        (nodePort ? "nodeport-endpoints" : "endpoints") + (proto == "tcp" ? "" : "-" + proto)
    }

    static func endpointMaps(_ t: String, _ p: String) -> String {
        "add map \(t) \(endpointMap(p)) { typeof ip daddr . meta l4proto . \(p) dport . numgen random mod 1 : ip daddr . \(p) dport ; }\n"
            + "add map \(t) \(endpointMap(p, nodePort: true)) { typeof meta l4proto . \(p) dport . numgen random mod 1 : ip daddr . \(p) dport ; }"
    }

    /// The chains that pick one of N endpoints (cluster IP and node port), one rule per protocol.
    static func lbChains(_ n: Int) -> String {
        var out = "add chain \(table) lb-\(n)\nadd chain \(table) nodeport-lb-\(n)\n"
        for p in protocols {
            out += "add rule \(table) lb-\(n) dnat to ip daddr . meta l4proto . \(p) dport . numgen random mod \(n) map @\(endpointMap(p))\n"
            out += "add rule \(table) nodeport-lb-\(n) dnat to meta l4proto . \(p) dport . numgen random mod \(n) map @\(endpointMap(p, nodePort: true))\n"
        }
        return out + "\n"
    }

    /// "service-<hash>-ns/name/proto/port" — kube-proxy's nftables naming: unique, and readable in `nft list`.
    static func serviceName(_ svc: ServicePort) -> String {
        let proto = svc.protocolName.lowercased()
        let hash = ProxyRules.chainName("", svc.displayName + svc.protocolName).prefix(8)
        return "\(hash)-\(svc.namespace)/\(svc.service)/\(proto)/\(svc.portName)"
    }

    public static func fragment(_ svc: ServicePort) -> Fragment {
        var f = Fragment()
        let proto = svc.protocolName.lowercased()
        let vip = "\(svc.clusterIP) . \(proto) . \(svc.port)"
        let nodePort = svc.nodePort.map { "\(proto) . \($0)" }
        func add(_ set: String, _ key: String, _ value: String? = nil) { f.elements.append(.init(set: set, key: key, value: value)) }
        if svc.endpoints.isEmpty {
            add("no-endpoint-services", vip)
            if let nodePort { add("no-endpoint-nodeports", nodePort) }
            return f
        }
        let endpoints = svc.endpoints.sorted { ($0.ip, $0.port) < ($1.ip, $1.port) }
        for ep in Set(endpoints.map(\.ip)).sorted() { add("hairpin", "\(ep) . \(ep)") }
        if let seconds = svc.affinitySeconds {
            // Per endpoint: a set of recent clients and a chain that records the client and DNATs.
            let name = serviceName(svc)
            var pick: [String] = []
            var choices: [String] = []
            for (i, ep) in endpoints.enumerated() {
                let suffix = "\(name)__\(ep.ip)/\(ep.port)"
                f.sets["affinity-" + suffix] = "{ type ipv4_addr ; flags dynamic,timeout ; timeout \(seconds)s ; }"
                f.chains["endpoint-" + suffix] = ["update @affinity-\(suffix) { ip saddr }",
                                                  "meta l4proto \(proto) dnat to \(ep.ip):\(ep.port)"]
                pick.append("ip saddr @affinity-\(suffix) goto endpoint-\(suffix)")
                choices.append("\(i) : goto endpoint-\(suffix)")
            }
            f.chains["service-" + name] = pick + ["numgen random mod \(endpoints.count) vmap { \(choices.joined(separator: ", ")) }"]
            add("service-ips", vip, "goto service-\(name)")
            if let nodePort { add("service-nodeports", nodePort, "goto service-\(name)") }
            return f
        }
        f.lbSizes = [endpoints.count]
        add("service-ips", vip, "goto lb-\(endpoints.count)")
        for (i, ep) in endpoints.enumerated() { add(endpointMap(proto), "\(vip) . \(i)", "\(ep.ip) . \(ep.port)") }
        if let nodePort {
            add("service-nodeports", nodePort, "goto nodeport-lb-\(endpoints.count)")
            for (i, ep) in endpoints.enumerated() { add(endpointMap(proto, nodePort: true), "\(nodePort) . \(i)", "\(ep.ip) . \(ep.port)") }
        }
        return f
    }
}

/// What is in the kernel, and the nft script that takes it to a new state. Elements are counted
/// (an endpoint's hairpin entry is shared by every service it serves); a map key that two
/// services claim keeps the first one's value.
public struct NFTState: Sendable {
    public private(set) var fragments: [String: NFTRules.Fragment] = [:]
    private var elementRefs: [String: (value: String?, count: Int)] = [:]
    private var lbSizes: Set<Int> = []

    public init() {}

    /// The script for a full sync: the skeleton, then everything in `services` (keyed by service port).
    public mutating func fullScript(_ services: [String: ServicePort], clusterCIDR: String?) -> String {
        self = NFTState()
        return NFTRules.skeleton(clusterCIDR: clusterCIDR) + update(services.mapValues { $0 })
    }

    /// The script that applies `changes` (service port key → its new state, nil when gone).
    /// Empty when nothing changes.
    public mutating func update(_ changes: [String: ServicePort?]) -> String {
        let t = NFTRules.table
        var removedElements: [String: [String]] = [:], addedElements: [String: [String]] = [:]
        var newChains: [(String, [String])] = [], goneChains: [String] = []
        var newSets: [(String, String)] = [], goneSets: [String] = []
        var newLB: [Int] = []
        for key in changes.keys.sorted() {
            let old = fragments[key] ?? NFTRules.Fragment()
            let new = changes[key]!.map(NFTRules.fragment) ?? NFTRules.Fragment()
            if old == new { continue }
            fragments[key] = changes[key]! == nil ? nil : new
            // Elements in both stay as they are.
            let kept = Set(old.elements).intersection(new.elements)
            for e in old.elements where !kept.contains(e) {
                let id = e.set + " " + e.key
                guard var ref = elementRefs[id] else { continue }
                ref.count -= 1
                if ref.count == 0 { elementRefs[id] = nil; removedElements[e.set, default: []].append(e.key) }
                else { elementRefs[id] = ref }
            }
            for e in new.elements where !kept.contains(e) {
                let id = e.set + " " + e.key
                if var ref = elementRefs[id] { ref.count += 1; elementRefs[id] = ref; continue }
                elementRefs[id] = (e.value, 1)
                addedElements[e.set, default: []].append(e.value.map { "\(e.key) : \($0)" } ?? e.key)
            }
            for (name, rules) in new.chains.sorted(by: { $0.key < $1.key }) where old.chains[name] != rules { newChains.append((name, rules)) }
            for name in old.chains.keys.sorted() where new.chains[name] == nil { goneChains.append(name) }
            for (name, decl) in new.sets.sorted(by: { $0.key < $1.key }) where old.sets[name] == nil { newSets.append((name, decl)) }
            for name in old.sets.keys.sorted() where new.sets[name] == nil { goneSets.append(name) }
            for n in new.lbSizes.sorted() where !lbSizes.contains(n) { lbSizes.insert(n); newLB.append(n) }
        }
        // Order matters within the transaction: what is referenced exists first, and what goes is
        // unreferenced (its elements deleted, its chains flushed) before it is deleted.
        var out = ""
        for n in newLB { out += NFTRules.lbChains(n) }
        for (name, decl) in newSets { out += "add set \(t) \(name) \(decl)\n" }
        for (name, _) in newChains { out += "add chain \(t) \(name)\n" }
        for (name, rules) in newChains {
            out += "flush chain \(t) \(name)\n"
            for r in rules { out += "add rule \(t) \(name) \(r)\n" }
        }
        // A key that is both removed and re-added (a value that changed) is deleted first.
        for set in removedElements.keys.sorted() {
            out += "delete element \(t) \(set) { \(removedElements[set]!.joined(separator: ", ")) }\n"
        }
        for set in addedElements.keys.sorted() {
            out += "add element \(t) \(set) { \(addedElements[set]!.joined(separator: ", ")) }\n"
        }
        for name in goneChains { out += "flush chain \(t) \(name)\n" }
        for name in goneChains { out += "delete chain \(t) \(name)\n" }
        for name in goneSets { out += "delete set \(t) \(name)\n" }
        return out
    }
}
