// `skiff node`: the node agent.
import API
import ArgumentParser
import SkiffCLI
import CLinux
import Client
import Foundation
import HTTPTransfer
import Node
#if canImport(Glibc)
import Glibc
#endif

struct NodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: ClusterCommand.node.rawValue, abstract: ClusterCommand.node.abstract)

    @OptionGroup var flags: NodeFlags

    // (Not in NodeFlags: `skiff up` takes the master's --cluster-cidr for both.)
    @Option(name: .customLong("cluster-cidr"), help: "All pods' addresses (the master's --cluster-cidr): pod traffic leaving it is masqueraded.")
    var clusterCIDR: String = "10.244.0.0/16"

    // (Not in NodeFlags: `skiff up` takes the master's --cluster-domain for both.)
    @Option(name: .customLong("cluster-domain"), help: "The cluster's DNS domain, for pods' search paths.")
    var clusterDomain: String = "cluster.local"

    // (Not in NodeFlags either: `skiff up` has its own --kubeconfig, the one it writes.)
    @Option(name: .long, help: "A kubeconfig with the master's URL, its CA and this node's credentials.")
    var kubeconfig: String?

    @Option(name: .long, help: "Join a secured master with its node token (<data-dir>/node-token): this node gets its own certificates.")
    var token: String?

    func run() throws {
        MasterCommand.exitOnTerminationSignals()
        let server = try APIAccessFlags.resolve(server: flags.server, kubeconfig: kubeconfig)
        var serverTLS: NodeServerTLS?
        if let token {
            let name = flags.name ?? ProcessInfo.processInfo.hostName.lowercased()
            let join = NodeJoinClient(server: server, token: token, rootDir: flags.rootDir, nodeName: name,
                                      addresses: flags.nodeIP.map { [$0] } ?? MasterSecurity.hostAddresses())
            let creds: NodeJoinClient.Credentials
            do { creds = try join.join() } catch { throw ValidationError("\(error)") }
            ClientCredentials.register(server: server, ClientCredentials(tls: TLSOptions(caFile: creds.ca, certFile: creds.clientCert, keyFile: creds.clientKey), token: nil))
            serverTLS = NodeServerTLS(certificate: creds.servingCert, key: creds.servingKey, ca: creds.ca)
            writeAll(2, "skiff node: joined \(server) as system:node:\(name)\n")
        }
        try flags.agent(server: server, clusterCIDR: clusterCIDR, clusterDomain: clusterDomain, serverTLS: serverTLS).run()
    }
}

/// The node agent's flags (shared by `skiff node` and `skiff up`).
struct NodeFlags: ParsableArguments {
    @Option(name: .customLong("server"), help: "The master's API URL (default: the kubeconfig's, else http://127.0.0.1:6443).")
    var server: String?

    @Option(name: .customLong("name"), help: "Node name (default: the hostname).")
    var name: String?

    @Option(name: .customLong("root-dir"), help: "State directory for containers and images.")
    var rootDir: String = "/var/lib/skiff/node"

    @Option(name: .customLong("cgroup-root"), help: "Cgroup under which pod containers are created.")
    var cgroupRoot: String = "skiff"

    @Option(name: .customLong("max-pods"), help: "Pods this node accepts (its pods capacity).")
    var maxPods: Int = 110

    @Option(name: .customLong("address"), help: "Address the node server listens on.")
    var address: String = "0.0.0.0"

    @Option(name: .customLong("port"), help: "Node server port (logs, exec, stats); 0 picks a free one.")
    var port: Int = 10250

    @Option(name: .customLong("manifests"), help: "Directory of static pod manifests (run even with no master).")
    var manifests: String?

    @Option(name: .customLong("container-log-max-size"), help: "Rotate a container's log past this size (e.g. 10Mi).")
    var containerLogMaxSize: String = "10Mi"

    @Option(name: .customLong("container-log-max-files"), help: "Log files kept per container, the current one included.")
    var containerLogMaxFiles: Int = 5

    @Option(name: .customLong("image-gc-high-threshold"), help: "Disk usage percent that starts image garbage collection.")
    var imageGCHigh: Int = 85

    @Option(name: .customLong("image-gc-low-threshold"), help: "Disk usage percent image garbage collection frees down to.")
    var imageGCLow: Int = 80

    @Option(name: .customLong("image-gc-interval"), help: "Seconds between image garbage collection checks.")
    var imageGCInterval: Double = 300

    @Option(name: .customLong("sync-frequency"), help: "Seconds between refreshes of running pods' ConfigMap/Secret/downward API volumes.")
    var syncFrequency: Double = 60

    @Option(name: .customLong("cni-bin-dir"), help: "Directories of CNI plugins (colon-separated).")
    var cniBinDir: String = "/usr/lib/cni:/opt/cni/bin"

    @Option(name: .customLong("cni-conf-dir"), help: "CNI network configuration (a default bridge network is written when it is empty).")
    var cniConfDir: String = "/etc/cni/net.d"

    @Option(name: .customLong("node-ip"), help: "IP address the node reports (default: its first non-loopback IPv4).")
    var nodeIP: String?

    @Option(name: .customLong("cluster-dns"), help: "DNS server IPs for pods, comma-separated (default: the kube-dns Service's cluster IP).")
    var clusterDNS: String?

    @Option(name: .customLong("resolv-conf"), help: "The host resolver file that pods with dnsPolicy Default copy.")
    var resolvConf: String = "/etc/resolv.conf"

    @OptionGroup var registry: RegistryOptions

    /// The agent these flags describe, talking to `server`.
    func agent(server: String, clusterCIDR: String, clusterDomain: String, serverTLS: NodeServerTLS? = nil) throws -> NodeAgent {
        // Many small threads (probes, log streams, events) each get a malloc arena by default;
        // two shared arenas keep the agent's footprint flat as pods and threads come and go.
        _ = skiff_malloc_arena_max(2)
        TextResidency.adviseRandom()
        DispatchQueue.global().asyncAfter(deadline: .now() + 5) { TextResidency.release() }
        let nodeName = name ?? ProcessInfo.processInfo.hostName.lowercased()
        var options = NodeOptions(server: server, name: nodeName, rootDir: rootDir, cgroupRoot: cgroupRoot,
                                  registry: try registry.config())
        options.maxPods = maxPods
        options.address = address
        options.port = port
        options.nodeIP = nodeIP
        options.serverTLS = serverTLS
        options.manifests = manifests
        options.cniBinDirs = cniBinDir.split(separator: ":").map(String.init)
        options.cniConfDir = cniConfDir
        options.clusterDNS = (clusterDNS ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        if let bad = options.clusterDNS.first(where: { IPv4CIDR($0 + "/32") == nil }) {
            throw ValidationError("--cluster-dns must be IPv4 addresses separated by commas, got \(bad)")
        }
        options.clusterDomain = clusterDomain
        options.resolvConf = resolvConf
        guard IPv4CIDR(clusterCIDR) != nil else { throw ValidationError("--cluster-cidr must be an IPv4 CIDR, got \(clusterCIDR)") }
        options.clusterCIDR = clusterCIDR
        guard let logSize = try? Quantity(parsing: containerLogMaxSize), logSize.value >= 0 else {
            throw ValidationError("--container-log-max-size: \"\(containerLogMaxSize)\" is not a size (e.g. 10Mi)")
        }
        guard containerLogMaxFiles >= 1 else { throw ValidationError("--container-log-max-files must be at least 1") }
        guard (0...100).contains(imageGCHigh), (0...100).contains(imageGCLow), imageGCLow <= imageGCHigh else {
            throw ValidationError("image GC thresholds must be percentages with low <= high (got \(imageGCLow) and \(imageGCHigh))")
        }
        guard syncFrequency > 0 else { throw ValidationError("--sync-frequency must be positive") }
        options.syncFrequency = syncFrequency
        guard imageGCInterval > 0 else { throw ValidationError("--image-gc-interval must be positive") }
        options.containerLogMaxBytes = logSize.value
        options.containerLogMaxFiles = containerLogMaxFiles
        options.imageGCHighPercent = imageGCHigh
        options.imageGCLowPercent = imageGCLow
        options.imageGCInterval = imageGCInterval
        let agent = try NodeAgent(options: options) { line in writeAll(2, "skiff node: " + line + "\n") }
        writeAll(2, "skiff node: \(nodeName) serving pods from \(server) (state in \(rootDir))\n")
        return agent
    }
}
