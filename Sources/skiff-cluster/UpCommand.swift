// `skiff up`: the whole cluster on this host in one process — the master (API server over the
// embedded store, scheduler, controllers), a node agent and the proxy — with a kubeconfig for
// skiffctl and kubectl written where the flags say.
import ArgumentParser
import SkiffCLI
import Foundation
import Node
import Proxy
#if canImport(Glibc)
import Glibc
#endif

struct UpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: ClusterCommand.up.rawValue, abstract: ClusterCommand.up.abstract)

    @OptionGroup(title: "Master") var master: MasterCommand
    @OptionGroup(title: "Node") var node: NodeFlags

    @Option(name: .customLong("kubeconfig"), help: "Where to write a kubeconfig for skiffctl and kubectl.")
    var kubeconfigPath: String = "/etc/skiff/kubeconfig"

    @Flag(inversion: .prefixedNo, help: "Run the proxy (Service IPs through iptables or nftables).")
    var proxy = true

    @Option(name: .customLong("proxy-mode"), help: "The proxy's mode: iptables or nftables.")
    var proxyMode: ProxyMode = .iptables

    func run() throws {
        MasterCommand.exitOnTerminationSignals()
        let node = self.node, kubeconfigPath = self.kubeconfigPath, proxy = self.proxy, proxyMode = self.proxyMode
        let clusterCIDR = master.controllerOptions.clusterCIDR, clusterDomain = master.dns.domain
        // Unless told, the whole cluster listens on every address, secured: pods reach the API.
        var master = self.master
        master.defaultListen = "0.0.0.0:6443"
        try master.serve { server, security in
            do {
                var serverTLS: NodeServerTLS?
                if let security {
                    // Secured (off loopback): the admin kubeconfig, and node server certificates straight from the CA.
                    _ = try security.writeAdminKubeconfig(server: server, to: kubeconfigPath)
                    serverTLS = try security.issueNodeServing(name: node.name ?? ProcessInfo.processInfo.hostName.lowercased(),
                                                              addresses: node.nodeIP.map { [$0] } ?? MasterSecurity.hostAddresses())
                } else {
                    try Self.writeKubeconfig(server: server, to: kubeconfigPath)
                }
                writeAll(2, "skiff up: kubeconfig in \(kubeconfigPath) (skiffctl get nodes, or kubectl --kubeconfig \(kubeconfigPath) get nodes)\n")
                let agent = try node.agent(server: server, clusterCIDR: clusterCIDR, clusterDomain: clusterDomain, serverTLS: serverTLS)
                Thread.detachNewThread { do { try agent.run() } catch { writeAll(2, "skiff up: node stopped: \(error)\n"); Glibc.exit(1) } }
            } catch {
                writeAll(2, "skiff up: \(error)\n")
                Glibc.exit(1)
            }
            if proxy {
                var settings = ProxyOptions(server: server)
                settings.clusterCIDR = clusterCIDR
                settings.mode = proxyMode
                proxyMode.removeOtherModesRules()
                let options = settings
                Thread.detachNewThread {
                    do { try Proxier(options: options) { writeAll(2, "skiff proxy: " + $0 + "\n") }.run() }
                    catch { writeAll(2, "skiff up: proxy: \(error)\n"); Glibc.exit(1) }
                }
            }
        }
    }

    /// A kubeconfig for the plain loopback API (no credentials needed).
    static func writeKubeconfig(server: String, to path: String) throws {
        try MasterSecurity.writeKubeconfig(server: server, user: "{}", cluster: "", to: path, mode: 0o644)
    }
}
