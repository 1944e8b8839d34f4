// kube-proxy's iptables mode as a pure function: services and their endpoints in, the nat and
// filter chains out (KUBE-SERVICES → KUBE-SVC-<hash> → KUBE-SEP-<hash>, KUBE-NODEPORTS,
// KUBE-MARK-MASQ, KUBE-POSTROUTING), random-probability load balancing, ClientIP affinity,
// hairpin masquerade, and REJECT for services without endpoints. The result is a chain → rules
// map, so a sync can write only the chains that changed.

import Foundation

public struct ServicePort: Equatable, Sendable {
    public var namespace: String
    public var service: String
    public var portName: String
    public var protocolName: String   // TCP, UDP, SCTP
    public var clusterIP: String
    public var port: Int
    public var nodePort: Int?
    /// ClientIP affinity timeout in seconds, when sessionAffinity is ClientIP.
    public var affinitySeconds: Int?
    public var endpoints: [Endpoint]

    public struct Endpoint: Equatable, Sendable {
        public var ip: String
        public var port: Int
        public init(ip: String, port: Int) { self.ip = ip; self.port = port }
    }

    public init(namespace: String, service: String, portName: String, protocolName: String = "TCP", clusterIP: String,
                port: Int, nodePort: Int? = nil, affinitySeconds: Int? = nil, endpoints: [Endpoint]) {
        self.namespace = namespace; self.service = service; self.portName = portName; self.protocolName = protocolName
        self.clusterIP = clusterIP; self.port = port; self.nodePort = nodePort; self.affinitySeconds = affinitySeconds
        self.endpoints = endpoints
    }

    /// "ns/svc:port" (kube-proxy's servicePortName; the port name is left out when empty).
    public var displayName: String { "\(namespace)/\(service)" + (portName.isEmpty ? "" : ":\(portName)") }
}

/// Chain contents by table ("nat", "filter"): chain name → rules (without "-A CHAIN").
public struct RuleSet: Equatable, Sendable {
    public var nat: [String: [String]] = [:]
    public var filter: [String: [String]] = [:]
    public init() {}
}

public enum ProxyRules {
    public static let masqMark = "0x4000/0x4000"

    /// KUBE-SVC-/KUBE-SEP- names: a stable 16-character base32 hash, as kube-proxy makes them.
    public static func chainName(_ prefix: String, _ key: String) -> String {
        func fnv(_ salt: UInt8) -> UInt64 {
            var h: UInt64 = 0xcbf29ce484222325
            for b in key.utf8 + [salt] { h ^= UInt64(b); h = h &* 0x100000001b3 }
            return h
        }
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var bits = [fnv(0), fnv(1)]   // 128 bits; 16 characters take 80 of them
        var out = ""
        for i in 0..<16 {
            let word = i < 12 ? 0 : 1
            out.append(alphabet[Int(bits[word] & 31)])
            bits[word] >>= 5
        }
        return prefix + out
    }

    static func comment(_ text: String) -> String { "-m comment --comment \"\(text)\"" }

    /// The probability that rule i of n (counting from 0) takes a connection: 1/(n-i), as kube-proxy writes it.
    static func probability(_ i: Int, of n: Int) -> String {
        let p = 1.0 / Double(n - i)
        var s = String(format: "%.10f", p)
        while s.hasSuffix("0") { s.removeLast() }
        return s
    }

    /// Every rule for these services. `clusterCIDR`: traffic from outside it is masqueraded.
    public static func render(_ services: [ServicePort], clusterCIDR: String?) -> RuleSet {
        var rs = RuleSet()
        var servicesChain: [String] = []
        var nodePorts: [String] = []
        var rejects: [String] = []
        rs.nat["KUBE-MARK-MASQ"] = ["-j MARK --or-mark \(masqMark.split(separator: "/")[0])"]
        rs.nat["KUBE-POSTROUTING"] = [
            "-m mark ! --mark \(masqMark) -j RETURN",
            "-j MARK --xor-mark \(masqMark.split(separator: "/")[0])",
            "\(comment("kubernetes service traffic requiring SNAT")) -j MASQUERADE --random-fully",
        ]
        for svc in services.sorted(by: { ($0.displayName, $0.protocolName) < ($1.displayName, $1.protocolName) }) {
            let name = svc.displayName
            let proto = svc.protocolName.lowercased()
            let match = "-m \(proto) -p \(proto) -d \(svc.clusterIP)/32 --dport \(svc.port)"
            if svc.endpoints.isEmpty {
                rejects.append("\(comment("\(name) has no endpoints")) \(match) -j REJECT --reject-with icmp-port-unreachable")
                if let np = svc.nodePort {
                    rejects.append("\(comment("\(name) has no endpoints")) -m addrtype --dst-type LOCAL -m \(proto) -p \(proto) --dport \(np) -j REJECT --reject-with icmp-port-unreachable")
                }
                continue
            }
            let svcChain = chainName("KUBE-SVC-", name + svc.protocolName)
            servicesChain.append("\(comment("\(name) cluster IP")) \(match) -j \(svcChain)")
            var chain: [String] = []
            if let cidr = clusterCIDR {
                chain.append("\(comment("\(name) cluster IP")) \(match) ! -s \(cidr) -j KUBE-MARK-MASQ")
            } else {
                chain.append("\(comment("\(name) cluster IP")) \(match) -j KUBE-MARK-MASQ")
            }
            let endpoints = svc.endpoints.sorted { ($0.ip, $0.port) < ($1.ip, $1.port) }
            let sepChains = endpoints.map { chainName("KUBE-SEP-", name + svc.protocolName + "\($0.ip):\($0.port)") }
            if let seconds = svc.affinitySeconds {
                for (ep, sep) in zip(endpoints, sepChains) {
                    chain.append("\(comment("\(name) -> \(ep.ip):\(ep.port)")) -m recent --name \(sep) --mask 255.255.255.255 --rsource --rcheck --seconds \(seconds) --reap -j \(sep)")
                }
            }
            for (i, (ep, sep)) in zip(endpoints, sepChains).enumerated() {
                let lb = i == endpoints.count - 1 ? "" : " -m statistic --mode random --probability \(probability(i, of: endpoints.count))"
                chain.append("\(comment("\(name) -> \(ep.ip):\(ep.port)"))\(lb) -j \(sep)")
                var sepRules = ["\(comment(name)) -s \(ep.ip)/32 -j KUBE-MARK-MASQ"]   // hairpin: a pod reaching itself
                let affinity = svc.affinitySeconds != nil ? " -m recent --name \(sep) --mask 255.255.255.255 --rsource --set" : ""
                sepRules.append("\(comment(name))\(affinity) -m \(proto) -p \(proto) -j DNAT --to-destination \(ep.ip):\(ep.port)")
                rs.nat[sep] = sepRules
            }
            rs.nat[svcChain] = chain
            if let np = svc.nodePort {
                nodePorts.append("\(comment(name)) -m \(proto) -p \(proto) --dport \(np) -j KUBE-MARK-MASQ")
                nodePorts.append("\(comment(name)) -m \(proto) -p \(proto) --dport \(np) -j \(svcChain)")
            }
        }
        servicesChain.append("\(comment("kubernetes service nodeports; NOTE: this must be the last rule in this chain")) -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS")
        rs.nat["KUBE-SERVICES"] = servicesChain
        rs.nat["KUBE-NODEPORTS"] = nodePorts
        rs.filter["KUBE-SERVICES"] = rejects
        return rs
    }

    /// An iptables-restore --noflush payload: chains that are new or changed are (re)declared —
    /// declaring flushes them — and filled; chains that are gone are flushed and deleted.
    /// `previous` nil: everything is written.
    public static func payload(_ new: RuleSet, previous: RuleSet?) -> String {
        var out = ""
        for (table, chains, old) in [("filter", new.filter, previous?.filter), ("nat", new.nat, previous?.nat)] {
            var declare: [String] = [], rules: [String] = [], remove: [String] = []
            for name in chains.keys.sorted() {
                let body = chains[name] ?? []
                if let old, old[name] == body { continue }
                declare.append(":\(name) - [0:0]")
                for r in body { rules.append("-A \(name) \(r)") }
            }
            for name in (old ?? [:]).keys.sorted() where chains[name] == nil {
                declare.append(":\(name) - [0:0]")   // flushes it, so nothing refers to what goes next
                remove.append("-X \(name)")
            }
            if declare.isEmpty { continue }
            out += "*\(table)\n" + declare.joined(separator: "\n") + "\n"
            if !rules.isEmpty { out += rules.joined(separator: "\n") + "\n" }
            if !remove.isEmpty { out += remove.joined(separator: "\n") + "\n" }
            out += "COMMIT\n"
        }
        return out
    }
}
