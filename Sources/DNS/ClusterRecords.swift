// The cluster's names, as the Kubernetes DNS specification defines them, kept incrementally from
// Services, EndpointSlices and Pods, and answered by walking the question's labels from the zone
// down (no table of every name: memory follows objects, not their names × record types).
//   <svc>.<ns>.svc.<zone>                 A: ClusterIP, or each ready endpoint (headless); CNAME: ExternalName
//   <ep>.<svc>.<ns>.svc.<zone>            A: an endpoint by hostname or dashed IP
//   _<port>._<proto>.<svc>.<ns>.svc.<zone> SRV (+ the targets' A records)
//   <a-b-c-d>.<ns>.pod.<zone>              A: a pod with that IP in that namespace
//   <d.c.b.a>.in-addr.arpa                 PTR: ClusterIPs and headless endpoints
// Names in the zone that match nothing are NXDOMAIN with the SOA (negative caching); names that
// exist without the asked type are NODATA.
import API
import Foundation
import Synchronization

public final class ClusterRecords: Sendable {
    public let zone: String
    public let ttl: UInt32
    let zoneLabels: [[UInt8]]
    let serial: UInt32
    private let state = Mutex(State())

    struct Service {
        var info: ServiceInfo
        /// Every slice's endpoints, one per IP (ready wins), in address order.
        var endpoints: [EndpointInfo] = []
    }

    struct State {
        var services: [String: [String: Service]] = [:]           // namespace → name → service
        var slices: [String: [String: [EndpointInfo]]] = [:]      // "ns/service" → slice → endpoints
        var sliceService: [String: String] = [:]                  // "ns/slice" → service
        var pods: [String: PodInfo] = [:]                         // "ns/name"
        var podIPs: [String: [UInt32: Int]] = [:]                 // namespace → IP → pods holding it
        var reverse: [UInt32: [String]] = [:]                     // IP → PTR targets
        var synced = false
    }

    public init(zone: String = "cluster.local", ttl: UInt32 = 5, serial: UInt32 = 1) {
        self.zone = zone
        self.ttl = ttl
        self.serial = serial
        zoneLabels = zone.split(separator: ".").map { Array($0.utf8) }
    }

    // MARK: updates

    public func upsert(_ s: ServiceInfo) {
        state.withLock { st in
            st.dropReverse(of: s.namespace, s.name, zone: zone)
            var entry = Service(info: s)
            entry.endpoints = st.mergedEndpoints(s.namespace + "/" + s.name)
            st.services[s.namespace, default: [:]][s.name] = entry
            st.addReverse(of: s.namespace, s.name, zone: zone)
        }
    }

    public func removeService(namespace: String, name: String) {
        state.withLock { st in
            st.dropReverse(of: namespace, name, zone: zone)
            st.services[namespace]?[name] = nil
            if st.services[namespace]?.isEmpty == true { st.services[namespace] = nil }
        }
    }

    public func upsert(_ slice: SliceInfo) {
        state.withLock { st in
            let sliceKey = slice.namespace + "/" + slice.name
            if let old = st.sliceService[sliceKey], old != slice.service { st.removeSlice(slice.namespace, slice.name, from: old, zone: zone) }
            st.sliceService[sliceKey] = slice.service
            st.slices[slice.namespace + "/" + slice.service, default: [:]][slice.name] = slice.endpoints
            st.refreshEndpoints(slice.namespace, slice.service, zone: zone)
        }
    }

    public func removeSlice(namespace: String, name: String) {
        state.withLock { st in
            guard let service = st.sliceService.removeValue(forKey: namespace + "/" + name) else { return }
            st.removeSlice(namespace, name, from: service, zone: zone)
        }
    }

    public func upsert(_ pod: PodInfo) {
        state.withLock { st in
            let key = pod.namespace + "/" + pod.name
            if let old = st.pods[key] { st.forget(podIPs: old) }
            st.pods[key] = pod
            for ip in pod.ips { st.podIPs[pod.namespace, default: [:]][ip, default: 0] += 1 }
        }
    }

    public func removePod(namespace: String, name: String) {
        state.withLock { st in
            if let old = st.pods.removeValue(forKey: namespace + "/" + name) { st.forget(podIPs: old) }
        }
    }

    /// Keys ("ns/name") of what is held, to drop what a fresh list no longer has.
    public func serviceKeys() -> [String] {
        state.withLock { st in st.services.flatMap { ns, names in names.keys.map { ns + "/" + $0 } } }
    }
    public func sliceKeys() -> [String] { state.withLock { Array($0.sliceService.keys) } }
    public func podKeys() -> [String] { state.withLock { Array($0.pods.keys) } }

    /// Until the first lists are in, cluster names are SERVFAIL rather than a wrong NXDOMAIN.
    public var synced: Bool {
        get { state.withLock { $0.synced } }
        set { state.withLock { $0.synced = newValue } }
    }

    public var serviceCount: Int { state.withLock { $0.services.values.reduce(0) { $0 + $1.count } } }

    // MARK: answers

    public enum Resolution: Equatable, Sendable {
        case answer(DNSAnswer)
        /// Not ours: ask the upstream resolvers.
        case forward
    }

    public func resolve(_ q: DNSQuery) -> Resolution {
        let labels = q.labels
        if labels.count >= zoneLabels.count, Array(labels.suffix(zoneLabels.count)) == zoneLabels {
            let inZone = Array(labels.dropLast(zoneLabels.count))
            return .answer(state.withLock { st in
                st.synced ? zoneAnswer(inZone.map { String(decoding: $0, as: UTF8.self) }, q.qtype, st)
                          : DNSAnswer(rcode: RCode.servFail).withAuthoritative(false)
            })
        }
        if let ip = Self.reverseIP(labels) {
            let names = state.withLock { $0.reverse[ip] }
            guard let names, !names.isEmpty else { return .forward }
            guard q.qtype == RRType.ptr || q.qtype == RRType.any else { return .answer(DNSAnswer()) }
            return .answer(DNSAnswer(answers: names.map { DNSRecord(ttl: ttl, .ptr($0)) }))
        }
        return .forward
    }

    var soa: DNSRecord {
        DNSRecord(owner: zone, ttl: ttl, .soa(mname: "ns.dns." + zone, rname: "hostmaster." + zone, serial: serial,
                                             refresh: 7200, retry: 1800, expire: 86400, minimum: ttl))
    }
    var noData: DNSAnswer { DNSAnswer(authority: [soa]) }
    var nxDomain: DNSAnswer { DNSAnswer(rcode: RCode.nxDomain, authority: [soa]) }

    /// `rel`: the labels left of the zone.
    private func zoneAnswer(_ rel: [String], _ qtype: UInt16, _ st: State) -> DNSAnswer {
        guard let kind = rel.last else {
            switch qtype {
            case RRType.soa: return DNSAnswer(answers: [soa])
            case RRType.ns: return DNSAnswer(answers: [DNSRecord(ttl: ttl, .ns("ns.dns." + zone))])
            default: return noData
            }
        }
        switch (kind, rel.count) {
        case ("dns-version", 1):
            return qtype == RRType.txt || qtype == RRType.any ? DNSAnswer(answers: [DNSRecord(ttl: ttl, .txt("1.1.0"))]) : noData
        case ("svc", 1), ("pod", 1), ("pod", 2):
            return noData
        case ("svc", 2):
            return st.services[rel[0]] == nil ? nxDomain : noData
        case ("svc", _):
            return serviceAnswer(rel.dropLast(), qtype, st)
        case ("pod", 3):
            guard let ip = Self.dashedIP(rel[0]), st.podIPs[rel[1]]?[ip] != nil else { return nxDomain }
            return address(qtype) ? DNSAnswer(answers: [DNSRecord(ttl: ttl, .a(ip))]) : noData
        default:
            return nxDomain
        }
    }

    /// `rel`: [..., service, namespace] (the "svc" label removed).
    private func serviceAnswer(_ rel: ArraySlice<String>, _ qtype: UInt16, _ st: State) -> DNSAnswer {
        let r = Array(rel)
        let namespace = r[r.count - 1], name = r[r.count - 2]
        guard let service = st.services[namespace]?[name] else { return nxDomain }
        let fqdn = name + "." + namespace + ".svc." + zone
        if case .externalName(let target) = service.info.kind {
            guard r.count == 2 else { return nxDomain }
            var answer = DNSAnswer(answers: [DNSRecord(ttl: ttl, .cname(target))])
            // A target inside the zone is answered here too (a stub resolver would not chase it).
            if target.hasSuffix("." + zone), address(qtype) {
                let targetLabels = target.dropLast(zone.count + 1).split(separator: ".").map(String.init)
                if targetLabels.count >= 3, targetLabels.last == "svc" {
                    answer.answers += serviceAnswer(targetLabels.dropLast(), RRType.a, st).answers.map { DNSRecord(owner: target, ttl: $0.ttl, $0.data) }
                }
            }
            return answer
        }
        switch r.count {
        case 2:
            if address(qtype) { return DNSAnswer(answers: addresses(service).map { DNSRecord(ttl: ttl, .a($0)) }) }
            if qtype == RRType.srv { return srvAnswer(service, ports: service.info.ports.filter { !$0.name.isEmpty }, fqdn: fqdn) }
            return noData
        case 3 where r[0].hasPrefix("_"):
            // `_proto.svc...`: an empty non-terminal when a port uses that protocol.
            return service.info.ports.contains { "_" + $0.proto == r[0] } ? noData : nxDomain
        case 3:
            guard let ep = service.endpoints.first(where: { endpointName($0) == r[0] }) else { return nxDomain }
            return address(qtype) ? DNSAnswer(answers: [DNSRecord(ttl: ttl, .a(ep.ip))]) : noData
        case 4 where r[0].hasPrefix("_") && r[1].hasPrefix("_"):
            let ports = service.info.ports.filter { "_" + $0.name == r[0] && "_" + $0.proto == r[1] }
            guard !ports.isEmpty else { return nxDomain }
            return qtype == RRType.srv || qtype == RRType.any ? srvAnswer(service, ports: ports, fqdn: fqdn) : noData
        default:
            return nxDomain
        }
    }

    /// One SRV per port (ClusterIP) or per port and ready endpoint (headless), targets' A records added.
    private func srvAnswer(_ service: Service, ports: [ServicePort], fqdn: String) -> DNSAnswer {
        var answer = DNSAnswer()
        switch service.info.kind {
        case .clusterIP(let ips):
            for p in ports { answer.answers.append(DNSRecord(ttl: ttl, .srv(priority: 0, weight: 100, port: p.port, target: fqdn))) }
            if !ports.isEmpty { answer.additional = ips.map { DNSRecord(owner: fqdn, ttl: ttl, .a($0)) } }
        case .headless:
            let ready = service.endpoints.filter(\.ready)
            let weight = UInt16(max(1, 100 / max(ready.count, 1)))
            for p in ports {
                for ep in ready {
                    answer.answers.append(DNSRecord(ttl: ttl, .srv(priority: 0, weight: weight, port: p.port, target: endpointName(ep) + "." + fqdn)))
                }
            }
            if !ports.isEmpty { answer.additional = ready.map { DNSRecord(owner: endpointName($0) + "." + fqdn, ttl: ttl, .a($0.ip)) } }
        case .externalName:
            break
        }
        return answer
    }

    private func addresses(_ s: Service) -> [UInt32] {
        switch s.info.kind {
        case .clusterIP(let ips): ips
        case .headless: s.endpoints.filter(\.ready).map(\.ip)
        case .externalName: []
        }
    }

    private func address(_ qtype: UInt16) -> Bool { qtype == RRType.a || qtype == RRType.any }

    func endpointName(_ e: EndpointInfo) -> String { e.hostname ?? Self.dashed(e.ip) }

    static func dashed(_ ip: UInt32) -> String { "\(ip >> 24)-\(ip >> 16 & 0xff)-\(ip >> 8 & 0xff)-\(ip & 0xff)" }

    static func dashedIP(_ s: String) -> UInt32? { s.contains(".") ? nil : IPv4CIDR.parse(s.replacingOccurrences(of: "-", with: ".")) }

    /// `d.c.b.a.in-addr.arpa` → a.b.c.d.
    static func reverseIP(_ labels: [[UInt8]]) -> UInt32? {
        guard labels.count == 6, labels[4] == Array("in-addr".utf8), labels[5] == Array("arpa".utf8) else { return nil }
        return IPv4CIDR.parse(labels[0..<4].reversed().map { String(decoding: $0, as: UTF8.self) }.joined(separator: "."))
    }
}

extension ClusterRecords.State {
    func mergedEndpoints(_ serviceKey: String) -> [EndpointInfo] {
        var byIP: [UInt32: EndpointInfo] = [:]
        for endpoints in (slices[serviceKey] ?? [:]).values {
            for e in endpoints where byIP[e.ip].map({ !$0.ready && e.ready }) ?? true { byIP[e.ip] = e }
        }
        return byIP.values.sorted { $0.ip < $1.ip }
    }

    mutating func refreshEndpoints(_ namespace: String, _ service: String, zone: String) {
        guard services[namespace]?[service] != nil else { return }
        dropReverse(of: namespace, service, zone: zone)
        let merged = mergedEndpoints(namespace + "/" + service)
        services[namespace]?[service]?.endpoints = merged
        addReverse(of: namespace, service, zone: zone)
    }

    mutating func removeSlice(_ namespace: String, _ name: String, from service: String, zone: String) {
        let key = namespace + "/" + service
        slices[key]?[name] = nil
        if slices[key]?.isEmpty == true { slices[key] = nil }
        refreshEndpoints(namespace, service, zone: zone)
    }

    mutating func forget(podIPs pod: PodInfo) {
        for ip in pod.ips {
            let left = (podIPs[pod.namespace]?[ip] ?? 1) - 1
            podIPs[pod.namespace]?[ip] = left > 0 ? left : nil
        }
        if podIPs[pod.namespace]?.isEmpty == true { podIPs[pod.namespace] = nil }
    }

    /// The PTR records a service contributes: its ClusterIPs, and a headless service's endpoints.
    func reverseEntries(of namespace: String, _ name: String, zone: String) -> [(UInt32, String)] {
        guard let s = services[namespace]?[name] else { return [] }
        let fqdn = name + "." + namespace + ".svc." + zone
        switch s.info.kind {
        case .clusterIP(let ips): return ips.map { ($0, fqdn) }
        case .headless: return s.endpoints.map { ($0.ip, ($0.hostname ?? ClusterRecords.dashed($0.ip)) + "." + fqdn) }
        case .externalName: return []
        }
    }

    mutating func dropReverse(of namespace: String, _ name: String, zone: String) {
        for (ip, target) in reverseEntries(of: namespace, name, zone: zone) {
            guard var names = reverse[ip], let i = names.firstIndex(of: target) else { continue }
            names.remove(at: i)
            reverse[ip] = names.isEmpty ? nil : names
        }
    }

    mutating func addReverse(of namespace: String, _ name: String, zone: String) {
        for (ip, target) in reverseEntries(of: namespace, name, zone: zone) { reverse[ip, default: []].append(target) }
    }
}
