// host-gw routing: every other node's podCIDR is routed via that node's InternalIP, so pods
// reach pods on other nodes over the nodes' own network. Kept in step with the Node objects on
// each heartbeat; routes of nodes that left are removed. And the one masquerade rule: traffic
// from this node's pods to anywhere outside the cluster CIDR leaves with the node's address,
// pod-to-pod traffic keeps its source (the bridge plugin's own ipMasq is off for that reason).
import API
import Client
import Foundation
import Network

final class NodeRoutes: @unchecked Sendable {
    let agent: NodeAgent
    /// podCIDR → gateway of the routes this agent installed.
    private var installed: [String: String] = [:]

    /// The podCIDR whose masquerade rule is in place, and when it was last checked.
    private var masqueraded: String?
    private var masqueradeChecked = Date.distantPast

    init(agent: NodeAgent) { self.agent = agent }

    /// The POSTROUTING rule for this node's pods (its comment names the node, for cleanup).
    static func masqueradeRule(podCIDR: String, clusterCIDR: String, node: String) -> [String] {
        ["-s", podCIDR, "!", "-d", clusterCIDR, "-m", "comment", "--comment", "skiff: masquerade pod traffic leaving the cluster (node \(node))",
         "-j", "MASQUERADE"]
    }

    /// Ensures the rule (checked once a minute: someone may flush the table); a changed podCIDR replaces it.
    func syncMasquerade() {
        guard let podCIDR = agent.podCIDR else { return }
        if masqueraded == podCIDR && Date().timeIntervalSince(masqueradeChecked) < 60 { return }
        masqueradeChecked = Date()
        let clusterCIDR = agent.options.clusterCIDR, node = agent.options.name
        if let old = masqueraded, old != podCIDR {
            _ = iptables(["-D", "POSTROUTING"] + Self.masqueradeRule(podCIDR: old, clusterCIDR: clusterCIDR, node: node))
        }
        let rule = Self.masqueradeRule(podCIDR: podCIDR, clusterCIDR: clusterCIDR, node: node)
        if iptables(["-C", "POSTROUTING"] + rule) || iptables(["-A", "POSTROUTING"] + rule) {
            if masqueraded != podCIDR { agent.log("masquerading \(podCIDR) → outside \(clusterCIDR)") }
            masqueraded = podCIDR
        }
    }

    private func iptables(_ args: [String]) -> Bool { HostCommand.run("/usr/sbin/iptables", ["-w", "-t", "nat"] + args).status == 0 }

    func sync(_ client: APIClient) {
        syncMasquerade()
        guard let r = try? client.get("/api/v1/nodes"), r.code == 200, let list = try? r.json() else { return }
        let me = NodeInfo.hostIP()
        var wanted: [String: String] = [:]
        for node in list["items"]?.arrayValue ?? [] where node["metadata"]?["name"]?.stringValue != agent.options.name {
            guard let cidr = node["spec"]?["podCIDR"]?.stringValue, IPv4CIDR(cidr) != nil,
                  let ip = (node["status"]?["addresses"]?.arrayValue ?? []).first(where: { $0["type"] == "InternalIP" })?["address"]?.stringValue,
                  ip != me, !ip.hasPrefix("127.") else { continue }
            wanted[cidr] = ip
        }
        for (cidr, via) in wanted where installed[cidr] != via {
            if run(["route", "replace", cidr, "via", via]) { installed[cidr] = via; agent.log("route \(cidr) via \(via)") }
        }
        for cidr in installed.keys where wanted[cidr] == nil {
            _ = run(["route", "del", cidr])
            installed[cidr] = nil
        }
    }

    private func run(_ args: [String]) -> Bool { HostCommand.run("/usr/sbin/ip", args).status == 0 }
}
