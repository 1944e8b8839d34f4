// The proxy's rules as text: a golden ruleset for a small cluster, partial payloads that write
// only changed chains, and (root) a full apply and cleanup in a network namespace of our own.
import Foundation
import API
@testable import Proxy
import Testing
import TestSupport

let web = ServicePort(namespace: "default", service: "web", portName: "http", clusterIP: "10.96.0.10", port: 80, nodePort: 30080,
                      endpoints: [.init(ip: "10.244.0.2", port: 8080), .init(ip: "10.244.1.3", port: 8080)])
let empty = ServicePort(namespace: "default", service: "none", portName: "", clusterIP: "10.96.0.11", port: 53, endpoints: [])

@Suite struct ProxyRulesTests {
    @Test func goldenRules() {
        let rs = ProxyRules.render([web, empty], clusterCIDR: "10.244.0.0/16")
        let svc = ProxyRules.chainName("KUBE-SVC-", "default/web:httpTCP")
        let sep1 = ProxyRules.chainName("KUBE-SEP-", "default/web:httpTCP10.244.0.2:8080")
        let sep2 = ProxyRules.chainName("KUBE-SEP-", "default/web:httpTCP10.244.1.3:8080")
        #expect(rs.nat["KUBE-SERVICES"] == [
            "-m comment --comment \"default/web:http cluster IP\" -m tcp -p tcp -d 10.96.0.10/32 --dport 80 -j \(svc)",
            "-m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS",
        ])
        #expect(rs.nat[svc] == [
            "-m comment --comment \"default/web:http cluster IP\" -m tcp -p tcp -d 10.96.0.10/32 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ",
            "-m comment --comment \"default/web:http -> 10.244.0.2:8080\" -m statistic --mode random --probability 0.5 -j \(sep1)",
            "-m comment --comment \"default/web:http -> 10.244.1.3:8080\" -j \(sep2)",
        ])
        #expect(rs.nat[sep1] == [
            "-m comment --comment \"default/web:http\" -s 10.244.0.2/32 -j KUBE-MARK-MASQ",
            "-m comment --comment \"default/web:http\" -m tcp -p tcp -j DNAT --to-destination 10.244.0.2:8080",
        ])
        #expect(rs.nat["KUBE-NODEPORTS"] == [
            "-m comment --comment \"default/web:http\" -m tcp -p tcp --dport 30080 -j KUBE-MARK-MASQ",
            "-m comment --comment \"default/web:http\" -m tcp -p tcp --dport 30080 -j \(svc)",
        ])
        #expect(rs.filter["KUBE-SERVICES"] == [
            "-m comment --comment \"default/none has no endpoints\" -m tcp -p tcp -d 10.96.0.11/32 --dport 53 -j REJECT --reject-with icmp-port-unreachable",
        ])
        #expect(svc.count == "KUBE-SVC-".count + 16 && svc != sep1 && sep1 != sep2)
    }

    @Test func probabilitiesAndAffinity() {
        #expect(ProxyRules.probability(0, of: 3) == "0.3333333333")
        #expect(ProxyRules.probability(1, of: 3) == "0.5")
        var sticky = web
        sticky.affinitySeconds = 600
        let rs = ProxyRules.render([sticky], clusterCIDR: nil)
        let svc = ProxyRules.chainName("KUBE-SVC-", "default/web:httpTCP")
        #expect(rs.nat[svc]?.filter { $0.contains("--rcheck --seconds 600 --reap") }.count == 2)
        #expect(rs.nat.values.flatMap { $0 }.filter { $0.contains("--rsource --set") }.count == 2)
    }

    @Test func partialPayloadsWriteOnlyChangedChains() {
        let before = ProxyRules.render([web, empty], clusterCIDR: nil)
        var moved = web
        moved.endpoints = [.init(ip: "10.244.0.2", port: 8080), .init(ip: "10.244.2.9", port: 8080)]
        let after = ProxyRules.render([moved, empty], clusterCIDR: nil)
        let payload = ProxyRules.payload(after, previous: before)
        let svc = ProxyRules.chainName("KUBE-SVC-", "default/web:httpTCP")
        let gone = ProxyRules.chainName("KUBE-SEP-", "default/web:httpTCP10.244.1.3:8080")
        let added = ProxyRules.chainName("KUBE-SEP-", "default/web:httpTCP10.244.2.9:8080")
        #expect(payload.contains(":\(svc) - [0:0]") && payload.contains(":\(added) - [0:0]") && payload.contains("-X \(gone)"))
        #expect(!payload.contains("-A KUBE-SERVICES"), "unchanged chains are not rewritten")
        #expect(!payload.contains("*filter"))
        #expect(ProxyRules.payload(after, previous: after).isEmpty)
        let full = ProxyRules.payload(after, previous: nil)
        #expect(full.hasPrefix("*filter\n") && full.contains("*nat\n") && full.contains("-A KUBE-SERVICES"))
    }

    @Test func servicePortsFromSlices() {
        let services = [JSONValue.object(JSONObject([("metadata", ["name": "web", "namespace": "default"]),
                                                      ("spec", ["clusterIP": "10.96.0.10", "ports": [["name": "http", "port": 80, "protocol": "TCP"]]])]))]
        let slices: [JSONValue] = [["metadata": ["namespace": "default", "labels": ["kubernetes.io/service-name": "web"]],
                                    "ports": [["name": "http", "port": 8080, "protocol": "TCP"]],
                                    "endpoints": [["addresses": ["10.244.0.2"], "conditions": ["ready": true]],
                                                  ["addresses": ["10.244.0.3"], "conditions": ["ready": false]]]]]
        let ports = Proxier.servicePorts(services: services, slices: slices)
        #expect(ports.count == 1 && ports[0].endpoints == [.init(ip: "10.244.0.2", port: 8080)], "not-ready endpoints get no traffic")
    }
}

/// Applies rules for real, inside a network namespace of the test's own (the host's tables untouched).
@Suite(.serialized, .enabled(if: TestEnv.isRoot, "programs iptables"))
struct ProxyApplyRootTests {
    func saved(_ table: String) -> String { IPTables.run(["iptables-save", "-t", table]).output }

    @Test func fullPartialCanaryAndCleanup() throws {
        let ns = TestEnv.uniqueName("sktproxy")
        #expect(try TestEnv.run(["/usr/sbin/ip", "netns", "add", ns]) == 0)
        defer { _ = try? TestEnv.run(["/usr/sbin/ip", "netns", "del", ns]); IPTables.namespace = nil }
        IPTables.namespace = ns
        let proxier = IPTablesBackend(clusterCIDR: "10.244.0.0/16") { _ in }
        proxier.canaryInterval = 0   // look every time here
        #expect(proxier.apply(ProxyRules.render([web, empty], clusterCIDR: "10.244.0.0/16")))
        let svc = ProxyRules.chainName("KUBE-SVC-", "default/web:httpTCP")
        var nat = saved("nat")
        #expect(nat.contains(":\(svc)") && nat.contains("-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"), "\(nat)")
        #expect(nat.contains("--to-destination 10.244.1.3:8080"))
        #expect(saved("filter").contains("default/none has no endpoints"))
        let fullBytes = proxier.lastSync.bytes

        // One endpoint changes: only its chains are written.
        var moved = web
        moved.endpoints = [.init(ip: "10.244.0.2", port: 8080), .init(ip: "10.244.2.9", port: 8080)]
        #expect(proxier.apply(ProxyRules.render([moved, empty], clusterCIDR: "10.244.0.0/16")))
        #expect(proxier.lastSync.bytes < fullBytes / 2)
        nat = saved("nat")
        #expect(nat.contains("--to-destination 10.244.2.9:8080") && !nat.contains("10.244.1.3"))

        // Someone flushes the nat table: the canary is gone, the next sync rewrites everything.
        _ = IPTables.run(["iptables", "-t", "nat", "-F"])
        _ = IPTables.run(["iptables", "-t", "nat", "-X"])
        #expect(proxier.apply(ProxyRules.render([moved, empty], clusterCIDR: "10.244.0.0/16")))
        nat = saved("nat")
        #expect(nat.contains("--to-destination 10.244.2.9:8080") && nat.contains("-j KUBE-SERVICES"))

        IPTables.cleanup()
        #expect(!saved("nat").contains("KUBE-") && !saved("filter").contains("KUBE-"))
    }
}
