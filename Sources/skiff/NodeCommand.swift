// `skiff node`: the node agent.
import ArgumentParser
import Foundation
import Node
#if canImport(Glibc)
import Glibc
#endif

struct NodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Run the node agent: register with the master and run the pods bound to this node.")

    @Option(name: .customLong("server"), help: "The master's API URL.")
    var server: String = "http://127.0.0.1:6443"

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

    @Option(name: .customLong("node-ip"), help: "IP address the node reports (default: its first non-loopback IPv4).")
    var nodeIP: String?

    @OptionGroup var registry: RegistryOptions

    func run() throws {
        MasterCommand.exitOnTerminationSignals()
        let nodeName = name ?? ProcessInfo.processInfo.hostName.lowercased()
        var options = NodeOptions(server: server, name: nodeName, rootDir: rootDir, cgroupRoot: cgroupRoot,
                                  registry: try registry.config())
        options.maxPods = maxPods
        options.address = address
        options.port = port
        options.nodeIP = nodeIP
        options.manifests = manifests
        let agent = try NodeAgent(options: options) { line in writeAll(2, "skiff node: " + line + "\n") }
        writeAll(2, "skiff node: \(nodeName) serving pods from \(server) (state in \(rootDir))\n")
        try agent.run()
    }
}
