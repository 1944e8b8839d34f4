// The little the DNS keeps of each Service, EndpointSlice and Pod, and the only place that reads
// their JSON: the watch decodes an object, keeps these few fields and drops the rest, so the
// server's memory grows with names and addresses, not with object sizes.
import API

public struct ServicePort: Equatable, Sendable {
    public var name: String
    /// Lower-case: tcp, udp, sctp (as SRV names spell it).
    public var proto: String
    public var port: UInt16
    public init(name: String, proto: String, port: UInt16) { self.name = name; self.proto = proto; self.port = port }
}

public struct ServiceInfo: Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        case clusterIP([UInt32])
        case headless
        case externalName(String)
    }
    public var namespace: String
    public var name: String
    public var kind: Kind
    public var ports: [ServicePort]
    public init(namespace: String, name: String, kind: Kind, ports: [ServicePort] = []) {
        self.namespace = namespace; self.name = name; self.kind = kind; self.ports = ports
    }

    /// nil for objects that are not a usable Service (no name, a ClusterIP that is not yet set).
    public init?(json o: JSONValue) {
        guard let meta = o["metadata"], let name = meta["name"]?.stringValue,
              let namespace = meta["namespace"]?.stringValue, let spec = o["spec"] else { return nil }
        self.namespace = namespace
        self.name = name
        ports = (spec["ports"]?.arrayValue ?? []).compactMap { p in
            guard let number = p["port"]?.intValue, (1...65535).contains(number) else { return nil }
            return ServicePort(name: p["name"]?.stringValue ?? "", proto: (p["protocol"]?.stringValue ?? "TCP").lowercased(),
                               port: UInt16(number))
        }
        if spec["type"]?.stringValue == "ExternalName" {
            guard let target = spec["externalName"]?.stringValue, !target.isEmpty else { return nil }
            kind = .externalName(target.lowercased().hasSuffix(".") ? String(target.lowercased().dropLast()) : target.lowercased())
            return
        }
        let ips = (spec["clusterIPs"]?.arrayValue?.compactMap(\.stringValue)) ?? [spec["clusterIP"]?.stringValue].compactMap { $0 }
        if ips.first == "None" { kind = .headless; return }
        let v4 = ips.compactMap(IPv4CIDR.parse)
        guard !v4.isEmpty else { return nil }
        kind = .clusterIP(v4)
    }
}

public struct EndpointInfo: Equatable, Hashable, Sendable {
    public var ip: UInt32
    public var hostname: String?
    public var ready: Bool
    public init(ip: UInt32, hostname: String? = nil, ready: Bool = true) { self.ip = ip; self.hostname = hostname; self.ready = ready }
}

public struct SliceInfo: Equatable, Sendable {
    public var namespace: String
    public var name: String
    /// The Service it belongs to (label kubernetes.io/service-name).
    public var service: String
    public var endpoints: [EndpointInfo]
    public init(namespace: String, name: String, service: String, endpoints: [EndpointInfo]) {
        self.namespace = namespace; self.name = name; self.service = service; self.endpoints = endpoints
    }

    /// IPv4 slices only (the cluster is IPv4); a missing ready condition counts as ready.
    public init?(json o: JSONValue) {
        guard let meta = o["metadata"], let name = meta["name"]?.stringValue, let namespace = meta["namespace"]?.stringValue,
              let service = meta["labels"]?["kubernetes.io/service-name"]?.stringValue,
              (o["addressType"]?.stringValue ?? "IPv4") == "IPv4" else { return nil }
        self.namespace = namespace
        self.name = name
        self.service = service
        var endpoints: [EndpointInfo] = []
        for e in o["endpoints"]?.arrayValue ?? [] {
            let ready = e["conditions"]?["ready"]?.boolValue ?? true
            let hostname = e["hostname"]?.stringValue
            for address in e["addresses"]?.arrayValue ?? [] {
                if let ip = address.stringValue.flatMap(IPv4CIDR.parse) { endpoints.append(EndpointInfo(ip: ip, hostname: hostname, ready: ready)) }
            }
        }
        self.endpoints = endpoints
    }
}

public struct PodInfo: Equatable, Sendable {
    public var namespace: String
    public var name: String
    public var ips: [UInt32]
    public init(namespace: String, name: String, ips: [UInt32]) { self.namespace = namespace; self.name = name; self.ips = ips }

    public init?(json o: JSONValue) {
        guard let meta = o["metadata"], let name = meta["name"]?.stringValue, let namespace = meta["namespace"]?.stringValue else { return nil }
        self.namespace = namespace
        self.name = name
        let status = o["status"]
        var ips = (status?["podIPs"]?.arrayValue ?? []).compactMap { $0["ip"]?.stringValue.flatMap(IPv4CIDR.parse) }
        if ips.isEmpty, let ip = status?["podIP"]?.stringValue.flatMap(IPv4CIDR.parse) { ips = [ip] }
        self.ips = ips
    }
}
