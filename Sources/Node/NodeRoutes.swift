// host-gw routing: every other node's podCIDR is routed via that node's InternalIP, so pods
// reach pods on other nodes over the nodes' own network. Kept in step with the Node objects on
// each heartbeat; routes of nodes that left are removed.
import API
import Client
import Foundation
import Network

final class NodeRoutes: @unchecked Sendable {
    let agent: NodeAgent
    /// podCIDR → gateway of the routes this agent installed.
    private var installed: [String: String] = [:]

    init(agent: NodeAgent) { self.agent = agent }

    func sync(_ client: APIClient) {
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
