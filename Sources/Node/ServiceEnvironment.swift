// Service environment variables, as the kubelet sets them: for every Service with a cluster IP in
// the pod's namespace (when enableServiceLinks, the default) and always for `kubernetes` in
// default, <NAME>_SERVICE_HOST/_PORT(_<PORTNAME>) and the docker-link <NAME>_PORT_80_TCP… set.
// The node watches Services once (ServiceLister) instead of listing them per container.
import API
import Client
import Foundation

/// What the variables are made of: one Service's name, cluster IP and ports.
struct ServiceLink: Equatable, Sendable {
    struct Port: Equatable, Sendable {
        var name: String
        var port: Int64
        var proto: String
    }
    var name: String
    var namespace: String
    var clusterIP: String
    var ports: [Port]

    /// nil for Services without a cluster IP (headless, ExternalName) or without ports.
    init?(_ service: JSONValue) {
        let spec = service["spec"] ?? .null
        guard let ip = spec["clusterIP"]?.stringValue, !ip.isEmpty, ip != "None" else { return nil }
        name = service["metadata"]?["name"]?.stringValue ?? ""
        namespace = service["metadata"]?["namespace"]?.stringValue ?? ""
        clusterIP = ip
        ports = (spec["ports"]?.arrayValue ?? []).compactMap { p in
            p["port"]?.intValue.map { Port(name: p["name"]?.stringValue ?? "", port: $0, proto: p["protocol"]?.stringValue ?? "TCP") }
        }
        if ports.isEmpty { return nil }
    }

    init(name: String, namespace: String, clusterIP: String, ports: [Port]) {
        self.name = name
        self.namespace = namespace
        self.clusterIP = clusterIP
        self.ports = ports
    }
}

enum ServiceEnvironment {
    /// The Services whose variables a pod in `namespace` gets (a Service of the pod's namespace
    /// shadows the master's of the same name).
    static func visible(_ services: [ServiceLink], namespace: String, enableServiceLinks: Bool) -> [ServiceLink] {
        var byName: [String: ServiceLink] = [:]
        for s in services where s.namespace == "default" && s.name == "kubernetes" { byName[s.name] = s }
        if enableServiceLinks {
            for s in services where s.namespace == namespace { byName[s.name] = s }
        }
        return byName.keys.sorted().compactMap { byName[$0] }
    }

    /// NAME=value pairs for the Services, in a stable order.
    static func variables(_ services: [ServiceLink]) -> [(String, String)] {
        var out: [(String, String)] = []
        for s in services {
            let prefix = envName(s.name)
            out.append((prefix + "_SERVICE_HOST", s.clusterIP))
            out.append((prefix + "_SERVICE_PORT", String(s.ports[0].port)))
            for p in s.ports where !p.name.isEmpty { out.append((prefix + "_SERVICE_PORT_" + envName(p.name), String(p.port))) }
            for (i, p) in s.ports.enumerated() {
                let proto = p.proto.lowercased()
                let url = "\(proto)://\(s.clusterIP):\(p.port)"
                if i == 0 { out.append((prefix + "_PORT", url)) }
                let portPrefix = "\(prefix)_PORT_\(p.port)_\(p.proto.uppercased())"
                out.append((portPrefix, url))
                out.append((portPrefix + "_PROTO", proto))
                out.append((portPrefix + "_PORT", String(p.port)))
                out.append((portPrefix + "_ADDR", s.clusterIP))
            }
        }
        return out
    }

    static func envName(_ name: String) -> String { name.replacingOccurrences(of: "-", with: "_").uppercased() }
}

/// Every Service with a cluster IP, kept by a watch, grouped by namespace.
final class ServiceLister: @unchecked Sendable {
    // @unchecked: `links` is only touched under `lock`; the informer is itself thread-safe.
    private let lock = NSLock()
    private var links: [String: ServiceLink] = [:]
    private var kubeDNS: String?
    private let informer: Informer

    init(server: String) {
        informer = Informer(server: server, path: "/api/v1/services")
        informer.onEvent { [weak self] event in self?.apply(event) }
    }

    func start() { informer.start() }

    /// Waits (briefly) for the first list, so the first pods already see the Services.
    func services(waitingUpTo seconds: Double = 5) -> [ServiceLink] {
        informer.waitForSync(timeout: seconds)
        lock.lock()
        defer { lock.unlock() }
        return Array(links.values)
    }

    /// The cluster IP of kube-system/kube-dns (the cluster DNS pods use when --cluster-dns is not given).
    func clusterDNSAddress() -> String? {
        informer.waitForSync(timeout: 5)
        lock.lock()
        defer { lock.unlock() }
        return kubeDNS
    }

    private func apply(_ event: InformerEvent) {
        lock.lock()
        defer { lock.unlock() }
        switch event {
        case .added(let o), .updated(_, let o):
            let link = ServiceLink(o)
            links[objectKey(o)] = link
            if objectKey(o) == "kube-system/kube-dns" { kubeDNS = link?.clusterIP }
        case .deleted(let o):
            links[objectKey(o)] = nil
            if objectKey(o) == "kube-system/kube-dns" { kubeDNS = nil }
        }
    }
}
