// The real server on loopback sockets: UDP and TCP answers, TC then TCP for a large answer,
// forwarding to a real dnsmasq upstream with the cache answering after it stops, SERVFAIL
// when no upstream answers, and a flood of garbage that leaves it answering.
// (dnsmasq runs daemonized: see TestSupport's Dnsmasq.)
import Foundation
@testable import DNS
import Testing
import TestSupport

@Suite(.serialized) struct DNSServerTests {
    func server(upstreams: [String]) throws -> (ClusterDNS, Int) {
        var config = ClusterDNSConfig()
        config.host = "127.0.0.1"
        config.port = 0
        config.upstreams = upstreams
        let dns = ClusterDNS(config: config, apiServer: nil, records: fixture(), log: { _ in })
        return (dns, try dns.start())
    }

    @Test func answersOverUDPAndTCP() throws {
        let (dns, port) = try server(upstreams: [])
        defer { dns.stop() }
        let udp = try #require(TestDNS.udp(TestDNS.query("web.default.svc.cluster.local", id: 7), port: port).flatMap(TestDNS.decode))
        #expect(udp.id == 7 && udp.data == ["10.96.0.20"])
        let tcp = try #require(TestDNS.tcp(TestDNS.query("_pg._tcp.db.default.svc.cluster.local", type: RRType.srv), port: port).flatMap(TestDNS.decode))
        #expect(tcp.answers.count == 2)
        let nx = try #require(TestDNS.udp(TestDNS.query("nope.default.svc.cluster.local"), port: port).flatMap(TestDNS.decode))
        #expect(nx.rcode == 3 && nx.authority.count == 1)
        // No upstream: names outside the cluster fail, and say so.
        #expect(TestDNS.udp(TestDNS.query("example.com"), port: port).flatMap(TestDNS.decode)?.rcode == 2)
    }

    @Test func aLargeAnswerIsTruncatedOverUDPAndWholeOverTCP() throws {
        let (dns, port) = try server(upstreams: [])
        defer { dns.stop() }
        dns.records.upsert(ServiceInfo(namespace: "default", name: "many", kind: .headless))
        dns.records.upsert(SliceInfo(namespace: "default", name: "many-1", service: "many",
                                     endpoints: (1...60).map { EndpointInfo(ip: ip("10.244.9.0") + UInt32($0)) }))
        let name = "many.default.svc.cluster.local"
        let udp = try #require(TestDNS.udp(TestDNS.query(name), port: port).flatMap(TestDNS.decode))
        #expect(udp.truncated && udp.answers.isEmpty)
        let tcp = try #require(TestDNS.tcp(TestDNS.query(name), port: port).flatMap(TestDNS.decode))
        #expect(!tcp.truncated && tcp.answers.count == 60)
        let edns = try #require(TestDNS.udp(TestDNS.query(name, edns: 4096), port: port).flatMap(TestDNS.decode))
        #expect(!edns.truncated && edns.answers.count == 60)
    }

    @Test func forwardsOtherNamesAndCachesTheAnswers() throws {
        let many = (1...60).map { "192.0.2.\($0) big.example" }.joined(separator: "\n")
        let upstream = try Dnsmasq(hosts: "192.0.2.7 host.example\n" + many + "\n", extra: ["--local=/example/"])
        defer { upstream.stop() }
        let (dns, port) = try server(upstreams: ["127.0.0.1:\(upstream.port)"])
        defer { dns.stop() }
        let a = try #require(TestDNS.udp(TestDNS.query("Host.Example", id: 99), port: port).flatMap(TestDNS.decode))
        #expect(a.id == 99 && a.data == ["192.0.2.7"])
        #expect(a.answers.first?.name == "Host.Example")
        let nx = try #require(TestDNS.udp(TestDNS.query("missing.example"), port: port).flatMap(TestDNS.decode))
        #expect(nx.rcode == 3)
        // An ExternalName pointing outside: the CNAME and the target's address from upstream.
        dns.records.upsert(ServiceInfo(namespace: "default", name: "outside", kind: .externalName("host.example")))
        let ext = try #require(TestDNS.udp(TestDNS.query("outside.default.svc.cluster.local"), port: port).flatMap(TestDNS.decode))
        #expect(ext.answers.map(\.description) == ["outside.default.svc.cluster.local 5 host.example", "host.example 1 192.0.2.7"], "\(ext.answers)")
        // TCP queries are forwarded too; an answer too big for UDP is fetched over TCP for them.
        #expect(TestDNS.tcp(TestDNS.query("host.example"), port: port).flatMap(TestDNS.decode)?.data == ["192.0.2.7"])
        let bigUDP = try #require(TestDNS.udp(TestDNS.query("big.example"), port: port).flatMap(TestDNS.decode))
        #expect(bigUDP.truncated)
        let bigTCP = try #require(TestDNS.tcp(TestDNS.query("big.example"), port: port).flatMap(TestDNS.decode))
        #expect(!bigTCP.truncated && bigTCP.answers.count == 60, "\(bigTCP.answers.count) answers")
        // With the upstream gone the cached answer still comes back, under the new ID and spelling.
        upstream.stop()
        let cached = try #require(TestDNS.udp(TestDNS.query("HOST.example", id: 5), port: port).flatMap(TestDNS.decode))
        #expect(cached.id == 5 && cached.data == ["192.0.2.7"] && cached.answers.first?.name == "HOST.example")
        // Cluster names never leave the server.
        #expect(TestDNS.udp(TestDNS.query("web.default.svc.cluster.local"), port: port).flatMap(TestDNS.decode)?.data == ["10.96.0.20"])
    }

    @Test func anUpstreamThatNeverAnswersGivesServFail() throws {
        // A bound socket that reads nothing: queries to it just vanish.
        let silent = try TestEnv.freePort()
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var addr = TestDNS.address(silent)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        let (dns, port) = try server(upstreams: ["127.0.0.1:\(silent)"])
        defer { dns.stop() }
        let start = Date()
        let r = try #require(TestDNS.udp(TestDNS.query("slow.example"), port: port, timeout: 8).flatMap(TestDNS.decode))
        #expect(r.rcode == 2)
        #expect(Date().timeIntervalSince(start) < 7)
    }

    @Test func garbageAndFloodsLeaveItAnswering() throws {
        let (dns, port) = try server(upstreams: [])
        defer { dns.stop() }
        var rng = SplitMix(seed: 42)
        let garbage = (0..<20_000).map { i -> [UInt8] in
            i % 3 == 0 ? Array(TestDNS.query("web.default.svc.cluster.local").prefix(Int(rng.next() % 40)))
                       : (0..<Int(rng.next() % 600)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        }
        TestDNS.udpSend(garbage, port: port)
        // Responses sent as queries (QR set) are dropped, not answered: no ping-pong between servers.
        var response = TestDNS.query("web.default.svc.cluster.local"); response[2] |= 0x80
        #expect(TestDNS.udp(response, port: port, timeout: 0.3) == nil)
        // Garbage over TCP closes only that connection.
        _ = TestDNS.tcp([0xff, 0xff, 0xff], port: port)
        let ok = try #require(TestDNS.udp(TestDNS.query("web.default.svc.cluster.local"), port: port).flatMap(TestDNS.decode))
        #expect(ok.data == ["10.96.0.20"])
        #expect(TestDNS.tcp(TestDNS.query("web.default.svc.cluster.local"), port: port).flatMap(TestDNS.decode)?.data == ["10.96.0.20"])
        // An update (opcode 5) is not implemented, and says so.
        var update = TestDNS.query("web.default.svc.cluster.local"); update[2] |= 5 << 3
        #expect(TestDNS.udp(update, port: port).flatMap(TestDNS.decode)?.rcode == 4)
    }
}
