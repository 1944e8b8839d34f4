// `skiff dns`: the cluster DNS as a process of its own (the master runs the same server inside
// unless --no-dns), fed by the API it is pointed at.
import ArgumentParser
import SkiffCLI
import DNS
import Foundation

struct DNSCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: ClusterCommand.dns.rawValue, abstract: ClusterCommand.dns.abstract)

    @OptionGroup var api: APIAccessFlags

    @Option(name: .long, help: "IP:PORT to serve on, UDP and TCP.")
    var listen: String = "0.0.0.0:53"

    @Option(name: .customLong("cluster-domain"), help: "The cluster's DNS domain.")
    var domain: String = "cluster.local"

    @Option(name: .customLong("upstream"), help: "Resolvers for other names, IP[:PORT] comma-separated (default: the host's resolv.conf).")
    var upstream: String?

    @Option(name: .long, help: "TTL in seconds of cluster answers.")
    var ttl: UInt32 = 5

    func validate() throws {
        guard AdvertiseAddress.hostPort(listen) != nil, listen.contains(":") else {
            throw ValidationError("--listen must be IPv4:PORT, got \(listen)")
        }
        try ClusterDNSFlags.validate(domain: domain, upstreams: ClusterDNSFlags.split(upstream))
    }

    func run() throws {
        TextResidency.adviseRandom()
        MasterCommand.exitOnTerminationSignals()
        let (host, port) = AdvertiseAddress.hostPort(listen)!
        var config = ClusterDNSConfig()
        config.host = host
        config.port = port
        config.domain = domain
        config.ttl = ttl
        config.upstreams = ClusterDNSFlags.split(upstream)
        let log: @Sendable (String) -> Void = { writeAll(2, "skiff dns: " + $0 + "\n") }
        let server = ClusterDNS(config: config, apiServer: try api.resolvedServer(), log: log)
        let bound = try server.start()
        log("serving \(domain) on \(host):\(bound) (udp, tcp)")
        // Start-up code (argument parsing, the first lists) need not stay resident; see TextResidency.
        DispatchQueue.global().asyncAfter(deadline: .now() + 5) { TextResidency.release() }
        while true { sleep(3600) }
    }
}
