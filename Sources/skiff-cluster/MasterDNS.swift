// What the master publishes for in-cluster software: the address pods reach it on, the
// `kubernetes` and `kube-system/kube-dns` Services pointing there, and the cluster DNS server.
import API
import APIServer
import ArgumentParser
import SkiffCLI
import Foundation
#if canImport(DNS)
import DNS
#endif
#if canImport(Glibc)
import Glibc
#endif

/// The master's cluster DNS flags.
struct ClusterDNSFlags: ParsableArguments {
    @Option(name: .customLong("cluster-domain"), help: "The cluster's DNS domain.")
    var domain: String = "cluster.local"

    @Option(name: .customLong("dns-port"), help: "The port the cluster DNS listens on at the advertise address (the kube-dns Service's target port; 0: any free port).")
    var port: Int = 53

    @Option(name: .customLong("dns-upstream"), help: "Resolvers for names outside the cluster, IP[:PORT] comma-separated (default: the host's resolv.conf).")
    var upstream: String?

    @Option(name: .customLong("dns-ttl"), help: "TTL in seconds of cluster answers.")
    var ttl: UInt32 = 5

    @Flag(name: .customLong("dns"), inversion: .prefixedNo, help: "Serve the cluster DNS in this process.")
    var enabled = true

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--dns-port must be 0-65535, got \(port)") }
        try Self.validate(domain: domain, upstreams: upstreams)
    }

    static func validate(domain: String, upstreams: [String]?) throws {
        guard NameValidation.dns1123Subdomain(domain, field: "--cluster-domain").isEmpty else {
            throw ValidationError("--cluster-domain must be a DNS name of lower-case labels (e.g. cluster.local), got \(domain)")
        }
        for u in upstreams ?? [] where AdvertiseAddress.hostPort(u) == nil {
            throw ValidationError("upstream resolvers must be IPv4[:PORT] addresses separated by commas, got \(u)")
        }
    }

    var upstreams: [String]? { Self.split(upstream) }

    static func split(_ list: String?) -> [String]? {
        list.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
    }
}

enum AdvertiseAddress {
    /// The listen host when it is one reachable address, else the source address of the
    /// host's default route (what other hosts and pods reach us on), else the first non-loopback IPv4.
    static func `default`(listenHost host: String) -> String {
        if IPv4CIDR(host + "/32") != nil, host != "0.0.0.0", !host.hasPrefix("127.") { return host }
        if let ip = defaultRouteSource() { return ip }
        return MasterSecurity.hostAddresses().first { !$0.hasPrefix("127.") } ?? "127.0.0.1"
    }

    /// A UDP socket "connected" to a public address sends nothing but makes the kernel pick the
    /// route and its source address.
    static func defaultRouteSource() -> String? {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var target = sockaddr_in()
        target.sin_family = sa_family_t(AF_INET)
        target.sin_port = in_port_t(53).bigEndian
        inet_pton(AF_INET, "192.0.2.123", &target.sin_addr)   // any non-local address will do
        let connected = withUnsafePointer(to: &target) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return nil }
        var local = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { return nil }
        var buf = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        inet_ntop(AF_INET, &local.sin_addr, &buf, socklen_t(INET_ADDRSTRLEN))
        let ip = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return ip == "0.0.0.0" ? nil : ip
    }

    /// "IP" or "IP:PORT" split, nil when it is neither.
    static func hostPort(_ text: String) -> (String, Int)? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2, IPv4CIDR(parts[0] + "/32") != nil else { return nil }
        guard parts.count == 2 else { return (String(parts[0]), 53) }
        guard let port = Int(parts[1]), (1...65535).contains(port) else { return nil }
        return (String(parts[0]), port)
    }
}

extension MasterCommand {
    /// `kube-system/kube-dns` exists at the service range's tenth address (tools look for it)
    /// and points at this master's DNS port.
    func publishClusterDNSService(_ api: KubernetesAPI, advertise: String, dnsPort: Int) async {
        do {
            try await api.publishMasterService(
                namespace: "kube-system", name: "kube-dns", clusterIP: api.clusterDNSIP,
                labels: ["k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"],
                ports: [MasterServicePort(name: "dns", port: 53, targetPort: Int64(dnsPort), proto: "UDP"),
                        MasterServicePort(name: "dns-tcp", port: 53, targetPort: Int64(dnsPort))],
                address: advertise)
        } catch {
            writeAll(2, "skiff master: warning: cannot publish the kube-dns Service: \(error)\n")
        }
    }

    /// Starts the cluster DNS on the advertised address (not every address: a host resolver such
    /// as systemd-resolved may hold port 53 on loopback); returns the port it serves on, or the
    /// requested one when it is off or could not bind (a warning: the API keeps serving).
    func startClusterDNS(server: String, host: String, log: @escaping @Sendable (String) -> Void) -> Int {
        guard dns.enabled else { return dns.port }
        #if canImport(DNS)
        var config = ClusterDNSConfig()
        config.domain = dns.domain
        config.ttl = dns.ttl
        config.port = dns.port
        config.upstreams = dns.upstreams
        // An advertise address that is not this host's (a NAT or a virtual IP) can't be bound.
        for bindHost in [host, "0.0.0.0"] {
            config.host = bindHost
            let candidate = ClusterDNS(config: config, apiServer: server, log: log)
            do {
                let port = try candidate.start()
                log("serving cluster DNS for \(dns.domain) on \(bindHost):\(port) (udp, tcp)")
                Self.dnsServer = candidate
                return port
            } catch {
                candidate.stop()
                log("warning: the cluster DNS cannot serve on \(bindHost):\(dns.port): \(error)")
            }
        }
        return dns.port
        #else
        log("warning: built without the cluster DNS")
        return dns.port
        #endif
    }

    #if canImport(DNS)
    /// Kept alive for the process's life.
    nonisolated(unsafe) static var dnsServer: ClusterDNS?
    #endif
}
