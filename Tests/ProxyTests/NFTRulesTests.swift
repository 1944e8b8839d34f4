// The nftables mode: the elements a service becomes, the scripts that add, change and remove
// services (shared hairpin entries counted), and (root) real traffic through the rules inside a
// network namespace of the test's own: cluster IP, node port, REJECT, an endpoint move, ClientIP
// affinity, a flushed ruleset rewritten, cleanup.
import Foundation
@testable import Proxy
import Testing
import TestSupport

@Suite struct NFTRulesTests {
    @Test func serviceBecomesElements() {
        let f = NFTRules.fragment(web)
        let lines = f.elements.map { "\($0.set) \($0.key)" + ($0.value.map { " : \($0)" } ?? "") }
        #expect(lines == [
            "hairpin 10.244.0.2 . 10.244.0.2",
            "hairpin 10.244.1.3 . 10.244.1.3",
            "service-ips 10.96.0.10 . tcp . 80 : goto lb-2",
            "endpoints 10.96.0.10 . tcp . 80 . 0 : 10.244.0.2 . 8080",
            "endpoints 10.96.0.10 . tcp . 80 . 1 : 10.244.1.3 . 8080",
            "service-nodeports tcp . 30080 : goto nodeport-lb-2",
            "nodeport-endpoints tcp . 30080 . 0 : 10.244.0.2 . 8080",
            "nodeport-endpoints tcp . 30080 . 1 : 10.244.1.3 . 8080",
        ])
        #expect(f.chains.isEmpty && f.lbSizes == [2])
        let none = NFTRules.fragment(empty).elements.map { "\($0.set) \($0.key)" }
        #expect(none == ["no-endpoint-services 10.96.0.11 . tcp . 53"])
    }

    @Test func affinityServicesGetChains() {
        var sticky = web
        sticky.nodePort = nil
        sticky.affinitySeconds = 600
        let f = NFTRules.fragment(sticky)
        let name = NFTRules.serviceName(sticky)
        #expect(name.hasSuffix("-default/web/tcp/http"))
        #expect(f.chains["service-" + name] == [
            "ip saddr @affinity-\(name)__10.244.0.2/8080 goto endpoint-\(name)__10.244.0.2/8080",
            "ip saddr @affinity-\(name)__10.244.1.3/8080 goto endpoint-\(name)__10.244.1.3/8080",
            "numgen random mod 2 vmap { 0 : goto endpoint-\(name)__10.244.0.2/8080, 1 : goto endpoint-\(name)__10.244.1.3/8080 }",
        ])
        #expect(f.chains["endpoint-\(name)__10.244.1.3/8080"] == [
            "update @affinity-\(name)__10.244.1.3/8080 { ip saddr }", "meta l4proto tcp dnat to 10.244.1.3:8080"])
        #expect(f.sets["affinity-\(name)__10.244.0.2/8080"] == "{ type ipv4_addr ; flags dynamic,timeout ; timeout 600s ; }")
        #expect(f.elements.contains(.init(set: "service-ips", key: "10.96.0.10 . tcp . 80", value: "goto service-\(name)")))
    }

    @Test func scriptsChangeOnlyWhatChanged() {
        var state = NFTState()
        let full = state.fullScript([web.key: web, empty.key: empty], clusterCIDR: "10.244.0.0/16")
        #expect(full.hasPrefix("add table ip skiff-proxy\ndelete table ip skiff-proxy\n"))
        #expect(full.contains("ip saddr != 10.244.0.0/16 ip daddr . meta l4proto . th dport @service-ips jump mark-for-masquerade"))
        #expect(full.contains("add chain ip skiff-proxy lb-2\n"))
        #expect(full.contains("add element ip skiff-proxy no-endpoint-services { 10.96.0.11 . tcp . 53 }\n"))
        #expect(state.update([web.key: web]).isEmpty)

        // An endpoint moves: its entries are replaced, the other one's stay, no chain is touched.
        var moved = web
        moved.endpoints = [.init(ip: "10.244.0.2", port: 8080), .init(ip: "10.244.2.9", port: 8080)]
        #expect(state.update([web.key: moved]) == """
        delete element ip skiff-proxy endpoints { 10.96.0.10 . tcp . 80 . 1 }
        delete element ip skiff-proxy hairpin { 10.244.1.3 . 10.244.1.3 }
        delete element ip skiff-proxy nodeport-endpoints { tcp . 30080 . 1 }
        add element ip skiff-proxy endpoints { 10.96.0.10 . tcp . 80 . 1 : 10.244.2.9 . 8080 }
        add element ip skiff-proxy hairpin { 10.244.2.9 . 10.244.2.9 }
        add element ip skiff-proxy nodeport-endpoints { tcp . 30080 . 1 : 10.244.2.9 . 8080 }

        """)

        // A second service on the same pod shares its hairpin entry: removing one keeps it.
        let admin = ServicePort(namespace: "default", service: "admin", portName: "", clusterIP: "10.96.0.12", port: 9090,
                                endpoints: [.init(ip: "10.244.0.2", port: 9090)])
        let added = state.update([admin.key: admin])
        #expect(added.contains("add chain ip skiff-proxy lb-1\n") && !added.contains("hairpin"))
        let removed = state.update([admin.key: nil])
        #expect(removed == """
        delete element ip skiff-proxy endpoints { 10.96.0.12 . tcp . 9090 . 0 }
        delete element ip skiff-proxy service-ips { 10.96.0.12 . tcp . 9090 }

        """)

        // Losing every endpoint: the service moves to the REJECT set.
        var gone = moved
        gone.endpoints = []
        let rejected = state.update([web.key: gone])
        #expect(rejected.contains("add element ip skiff-proxy no-endpoint-nodeports { tcp . 30080 }"))
        #expect(rejected.contains("delete element ip skiff-proxy service-ips { 10.96.0.10 . tcp . 80 }"))
    }

    @Test func affinityChainsGoWithTheirService() {
        var sticky = web
        sticky.affinitySeconds = 60
        var state = NFTState()
        _ = state.fullScript([sticky.key: sticky], clusterCIDR: nil)
        let script = state.update([sticky.key: nil])
        let name = NFTRules.serviceName(sticky)
        // Elements first, then chains flushed before any is deleted, then the sets they used.
        let order = ["delete element ip skiff-proxy service-ips", "flush chain ip skiff-proxy endpoint-\(name)__10.244.0.2/8080",
                     "flush chain ip skiff-proxy service-\(name)", "delete chain ip skiff-proxy endpoint-\(name)__10.244.0.2/8080",
                     "delete set ip skiff-proxy affinity-\(name)__10.244.1.3/8080"]
        let positions = order.map { script.range(of: $0)?.lowerBound }
        #expect(positions.allSatisfy { $0 != nil }, "\(script)")
        #expect(positions.compactMap { $0 } == positions.compactMap { $0 }.sorted(), "\(script)")
    }
}

/// Real traffic through the nftables rules, in a network namespace of the test's own: a dummy
/// "pod" address with a listener per endpoint, connections from the namespace itself (OUTPUT).
@Suite(.serialized, .enabled(if: TestEnv.isRoot, "programs nftables"))
struct NFTablesApplyRootTests {
    /// Which listener answered a connection to ip:port (each writes its own name), or nil.
    func answer(_ ns: String, _ ip: String, _ port: Int) -> String? {
        let r = try? TestEnv.capture(["/usr/bin/nsenter", "--net=/var/run/netns/" + ns, "/bin/busybox", "nc", "-w", "2", ip, "\(port)"], stdin: "")
        let out = r?.stdout.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        return out.isEmpty ? nil : out
    }

    @Test func trafficFollowsTheRules() throws {
        _ = try TestEnv.capture([TestEnv.repoRoot + "/hack/install-deps.sh"])
        let ns = TestEnv.uniqueName("sktnft")
        #expect(try TestEnv.run(["/usr/sbin/ip", "netns", "add", ns]) == 0)
        var listeners: [Process] = []
        defer {
            for p in listeners { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
            _ = try? TestEnv.run(["/usr/sbin/ip", "netns", "del", ns])
        }
        func inNS(_ argv: [String]) throws { #expect(try TestEnv.run(["/usr/bin/nsenter", "--net=/var/run/netns/" + ns] + argv) == 0) }
        try inNS(["/usr/sbin/ip", "link", "set", "lo", "up"])
        // (No dummy driver on every kernel: a veth pair kept inside the namespace does the same.)
        try inNS(["/usr/sbin/ip", "link", "add", "pods", "type", "veth", "peer", "name", "pods-peer"])
        try inNS(["/usr/sbin/ip", "link", "set", "pods", "up"])
        try inNS(["/usr/sbin/ip", "link", "set", "pods-peer", "up"])
        for a in ["192.168.77.1/24", "10.244.0.2/32", "10.244.1.3/32", "10.244.2.9/32"] { try inNS(["/usr/sbin/ip", "addr", "add", a, "dev", "pods"]) }
        try inNS(["/usr/sbin/ip", "route", "add", "default", "dev", "pods"])
        // Listeners: each answers every connection with its own address.
        let server = """
        import socket, threading
        def serve(ip):
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((ip, 8080)); s.listen(64)
            while True:
                c, _ = s.accept(); c.sendall((ip + "\\n").encode()); c.close()
        def echo(ip):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((ip, 5353))
            while True:
                _, peer = s.recvfrom(512); s.sendto((ip + "\\n").encode(), peer)
        for ip in ["10.244.0.2", "10.244.1.3", "10.244.2.9"]: threading.Thread(target=serve, args=(ip,)).start()
        threading.Thread(target=echo, args=("10.244.1.3",)).start()
        """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
        p.arguments = ["--net=/var/run/netns/" + ns, "/usr/bin/python3", "-c", server]
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        listeners.append(p)
        Thread.sleep(forTimeInterval: 0.3)

        let backend = try NFTablesBackend(clusterCIDR: "10.244.0.0/16", namespace: ns) { print("nft backend: \($0)") }
        backend.canaryInterval = 0
        var services = [web.key: web, empty.key: empty]
        #expect(backend.sync(services, changed: nil))
        // A UDP service (kube-dns is one) added by a partial sync, whose rules nft compiles against
        // the maps as the kernel has them: DNAT for UDP too.
        let udp = ServicePort(namespace: "kube-system", service: "dns", portName: "dns", protocolName: "UDP", clusterIP: "10.96.0.12",
                              port: 53, endpoints: [.init(ip: "10.244.1.3", port: 5353)])
        services[udp.key] = udp
        #expect(backend.sync(services, changed: [udp.key]))
        let datagram = try TestEnv.capture(["/usr/bin/nsenter", "--net=/var/run/netns/" + ns, "/usr/bin/python3", "-c",
            // Sent again until answered: under a loaded CI machine the echo listener (a fresh
            // python) may bind after the first datagram, which UDP then simply loses.
            """
            import socket
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)
            for _ in range(10):
                s.sendto(b'q', ('10.96.0.12', 53))
                try: print(s.recv(64).decode()); break
                except TimeoutError: pass
            """])
        #expect(datagram.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "10.244.1.3", "UDP through the cluster IP: \(datagram)")

        // The cluster IP and the node port reach both endpoints.
        var seen: Set<String> = []
        for _ in 0..<30 where seen.count < 2 { if let a = answer(ns, "10.96.0.10", 80) { seen.insert(a) } }
        #expect(seen == ["10.244.0.2", "10.244.1.3"])
        #expect(answer(ns, "192.168.77.1", 30080) != nil)
        // No endpoints: rejected at once (not a timeout).
        let start = Date()
        #expect(answer(ns, "10.96.0.11", 53) == nil)
        #expect(Date().timeIntervalSince(start) < 1.5)

        // An endpoint moves: traffic follows.
        var moved = web
        moved.endpoints = [.init(ip: "10.244.2.9", port: 8080)]
        services[web.key] = moved
        #expect(backend.sync(services, changed: [web.key]))
        #expect(backend.lastSync.bytes < 2000)
        for _ in 0..<5 { #expect(answer(ns, "10.96.0.10", 80) == "10.244.2.9") }

        // ClientIP affinity: every connection from this client lands on one endpoint.
        var sticky = web
        sticky.affinitySeconds = 300
        services[web.key] = sticky
        #expect(backend.sync(services, changed: [web.key]))
        let first = answer(ns, "10.96.0.10", 80)
        #expect(first != nil)
        for _ in 0..<6 { #expect(answer(ns, "10.96.0.10", 80) == first) }

        // Someone flushes the ruleset: the next sync (canary) writes everything again.
        try inNS(["/usr/sbin/nft", "flush", "ruleset"])
        #expect(backend.sync(services, changed: []))
        #expect(answer(ns, "10.96.0.10", 80) != nil)   // (the affinity memory went with the flush)

        NFTables.cleanup(namespace: ns)
        let tables = try TestEnv.capture(["/usr/bin/nsenter", "--net=/var/run/netns/" + ns, "/usr/sbin/nft", "list", "tables"]).stdout
        #expect(!tables.contains("skiff-proxy"))
    }
}
