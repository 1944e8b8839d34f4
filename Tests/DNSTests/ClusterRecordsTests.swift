// The cluster's names from Services, EndpointSlices and Pods, as the Kubernetes DNS
// specification defines them, through the real codec and decoded by the test's own decoder.
import API
@testable import DNS
import Testing

func ip(_ s: String) -> UInt32 { IPv4CIDR.parse(s)! }

/// web (ClusterIP, two named ports), db (headless, two ready pods with hostnames and one not
/// ready), api (headless, no hostnames), ext and alias (ExternalName), other in otherns, a pod.
func fixture() -> ClusterRecords {
    let r = ClusterRecords(zone: "cluster.local", ttl: 5, serial: 42)
    r.upsert(ServiceInfo(namespace: "default", name: "web", kind: .clusterIP([ip("10.96.0.20")]),
                         ports: [ServicePort(name: "http", proto: "tcp", port: 80), ServicePort(name: "metrics", proto: "tcp", port: 9090)]))
    r.upsert(ServiceInfo(namespace: "default", name: "db", kind: .headless, ports: [ServicePort(name: "pg", proto: "tcp", port: 5432)]))
    r.upsert(SliceInfo(namespace: "default", name: "db-abcde", service: "db", endpoints: [
        EndpointInfo(ip: ip("10.244.0.5"), hostname: "db-0"), EndpointInfo(ip: ip("10.244.0.6"), hostname: "db-1"),
        EndpointInfo(ip: ip("10.244.0.7"), hostname: "db-2", ready: false)]))
    r.upsert(ServiceInfo(namespace: "default", name: "api", kind: .headless, ports: [ServicePort(name: "grpc", proto: "tcp", port: 9000)]))
    r.upsert(SliceInfo(namespace: "default", name: "api-1", service: "api", endpoints: [EndpointInfo(ip: ip("10.244.1.8"))]))
    r.upsert(ServiceInfo(namespace: "default", name: "ext", kind: .externalName("example.com")))
    r.upsert(ServiceInfo(namespace: "default", name: "alias", kind: .externalName("web.default.svc.cluster.local")))
    r.upsert(ServiceInfo(namespace: "otherns", name: "other", kind: .clusterIP([ip("10.96.0.30")])))
    r.upsert(PodInfo(namespace: "default", name: "p1", ips: [ip("10.244.0.9")]))
    r.synced = true
    return r
}

/// The response as a client would read it; nil when the name would be forwarded.
func ask(_ r: ClusterRecords, _ name: String, _ type: UInt16 = RRType.a, limit: Int = 65535, edns: UInt16? = nil) -> TestResponse? {
    guard case .success(let q) = DNSQuery.parse(TestDNS.query(name, type: type, edns: edns)) else { Issue.record("query did not parse"); return nil }
    guard case .answer(let a) = r.resolve(q) else { return nil }
    return TestDNS.decode(DNSWriter.response(to: q, a, limit: limit))
}

@Suite struct ClusterRecordsTests {
    let r = fixture()

    @Test func serviceAddressIsItsClusterIP() throws {
        let a = try #require(ask(r, "web.default.svc.cluster.local"))
        #expect(a.rcode == 0 && a.authoritative)
        #expect(a.answers == [TestRR(name: "web.default.svc.cluster.local", type: 1, ttl: 5, data: "10.96.0.20")])
        // Names are case-insensitive; the answer carries the name as asked.
        let upper = try #require(ask(r, "WEB.Default.SVC.cluster.local"))
        #expect(upper.answers.map(\.name) == ["WEB.Default.SVC.cluster.local"] && upper.data == ["10.96.0.20"])
        #expect(ask(r, "other.otherns.svc.cluster.local")?.data == ["10.96.0.30"])
    }

    @Test func headlessServiceAnswersEachReadyEndpoint() throws {
        #expect(ask(r, "db.default.svc.cluster.local")?.data == ["10.244.0.5", "10.244.0.6"])
        #expect(ask(r, "db-0.db.default.svc.cluster.local")?.data == ["10.244.0.5"])
        #expect(ask(r, "db-1.db.default.svc.cluster.local")?.data == ["10.244.0.6"])
        // An endpoint without a hostname is named by its dashed address.
        #expect(ask(r, "10-244-1-8.api.default.svc.cluster.local")?.data == ["10.244.1.8"])
        #expect(ask(r, "db-9.db.default.svc.cluster.local")?.rcode == 3)
    }

    @Test func srvRecordsForNamedPorts() throws {
        let web = try #require(ask(r, "_http._tcp.web.default.svc.cluster.local", RRType.srv))
        #expect(web.data == ["0 100 80 web.default.svc.cluster.local"])
        #expect(web.additional.map(\.description) == ["web.default.svc.cluster.local 1 10.96.0.20"])
        let db = try #require(ask(r, "_pg._tcp.db.default.svc.cluster.local", RRType.srv))
        #expect(db.data == ["0 50 5432 db-0.db.default.svc.cluster.local", "0 50 5432 db-1.db.default.svc.cluster.local"])
        #expect(db.additional.map(\.data) == ["10.244.0.5", "10.244.0.6"])
        // Every named port at the service's own name.
        #expect(ask(r, "web.default.svc.cluster.local", RRType.srv)?.data.count == 2)
        #expect(ask(r, "_https._tcp.web.default.svc.cluster.local", RRType.srv)?.rcode == 3)
        #expect(ask(r, "_http._udp.web.default.svc.cluster.local", RRType.srv)?.rcode == 3)
        // `_tcp.web...` exists (an empty non-terminal): no data, not NXDOMAIN.
        let nonTerminal = try #require(ask(r, "_tcp.web.default.svc.cluster.local", RRType.srv))
        #expect(nonTerminal.rcode == 0 && nonTerminal.answers.isEmpty)
    }

    @Test func unknownNamesAreNXDomainWithTheSOA() throws {
        for name in ["nope.default.svc.cluster.local", "nope.cluster.local", "web.nons.svc.cluster.local",
                     "a.b.web.default.svc.cluster.local", "nons.svc.cluster.local", "web.default.svc.cluster.local.default.svc.cluster.local"] {
            let a = try #require(ask(r, name), "\(name)")
            #expect(a.rcode == 3, "\(name)")
            #expect(a.answers.isEmpty && a.authority.map(\.data) == ["ns.dns.cluster.local hostmaster.cluster.local 42 7200 1800 86400 5"], "\(name)")
            #expect(a.authority.first?.name == "cluster.local")
        }
    }

    @Test func existingNamesWithoutTheTypeAreNoData() throws {
        for (name, type) in [("web.default.svc.cluster.local", RRType.aaaa), ("web.default.svc.cluster.local", RRType.txt),
                             ("default.svc.cluster.local", RRType.a), ("svc.cluster.local", RRType.a), ("cluster.local", RRType.a),
                             ("default.pod.cluster.local", RRType.a)] {
            let a = try #require(ask(r, name, type), "\(name)")
            #expect(a.rcode == 0 && a.answers.isEmpty && a.authority.count == 1, "\(name) \(type)")
        }
        #expect(ask(r, "cluster.local", RRType.soa)?.answers.first?.type == RRType.soa)
        #expect(ask(r, "dns-version.cluster.local", RRType.txt)?.data == ["1.1.0"])
    }

    @Test func externalNameIsACNAME() throws {
        let ext = try #require(ask(r, "ext.default.svc.cluster.local"))
        #expect(ext.answers.map(\.description) == ["ext.default.svc.cluster.local 5 example.com"])
        // A target inside the cluster is followed in the same answer.
        let alias = try #require(ask(r, "alias.default.svc.cluster.local"))
        #expect(alias.answers.map(\.description) == ["alias.default.svc.cluster.local 5 web.default.svc.cluster.local",
                                                      "web.default.svc.cluster.local 1 10.96.0.20"])
        #expect(ask(r, "ext.default.svc.cluster.local", RRType.aaaa)?.data == ["example.com"])
    }

    @Test func reverseNamesOfClusterIPsAndHeadlessEndpoints() throws {
        #expect(ask(r, "20.0.96.10.in-addr.arpa", RRType.ptr)?.data == ["web.default.svc.cluster.local"])
        #expect(ask(r, "5.0.244.10.in-addr.arpa", RRType.ptr)?.data == ["db-0.db.default.svc.cluster.local"])
        #expect(ask(r, "8.1.244.10.in-addr.arpa", RRType.ptr)?.data == ["10-244-1-8.api.default.svc.cluster.local"])
        // Addresses that are not the cluster's go upstream.
        #expect(ask(r, "1.1.168.192.in-addr.arpa", RRType.ptr) == nil)
    }

    @Test func podNamesResolveOnlyForPodsOfThatNamespace() throws {
        #expect(ask(r, "10-244-0-9.default.pod.cluster.local")?.data == ["10.244.0.9"])
        #expect(ask(r, "10-244-0-9.otherns.pod.cluster.local")?.rcode == 3)
        #expect(ask(r, "10-244-0-99.default.pod.cluster.local")?.rcode == 3)
        #expect(ask(r, "10-244-0-300.default.pod.cluster.local")?.rcode == 3)
        r.removePod(namespace: "default", name: "p1")
        #expect(ask(r, "10-244-0-9.default.pod.cluster.local")?.rcode == 3)
    }

    @Test func namesOutsideTheZoneAreForwarded() {
        #expect(ask(r, "example.com") == nil)
        #expect(ask(r, "local") == nil)
        #expect(ask(r, "cluster.local.example.com") == nil)
    }

    @Test func changesShowAtOnce() throws {
        r.upsert(SliceInfo(namespace: "default", name: "db-abcde", service: "db", endpoints: [EndpointInfo(ip: ip("10.244.0.6"), hostname: "db-1")]))
        #expect(ask(r, "db.default.svc.cluster.local")?.data == ["10.244.0.6"])
        #expect(ask(r, "5.0.244.10.in-addr.arpa", RRType.ptr) == nil)
        // A second slice adds to the first; removing it takes its endpoints away again.
        r.upsert(SliceInfo(namespace: "default", name: "db-fghij", service: "db", endpoints: [EndpointInfo(ip: ip("10.244.2.2"))]))
        #expect(ask(r, "db.default.svc.cluster.local")?.data == ["10.244.0.6", "10.244.2.2"])
        r.removeSlice(namespace: "default", name: "db-fghij")
        #expect(ask(r, "db.default.svc.cluster.local")?.data == ["10.244.0.6"])
        r.removeSlice(namespace: "default", name: "db-abcde")
        let empty = try #require(ask(r, "db.default.svc.cluster.local"))
        #expect(empty.rcode == 0 && empty.answers.isEmpty)

        r.removeService(namespace: "default", name: "web")
        #expect(ask(r, "web.default.svc.cluster.local")?.rcode == 3)
        #expect(ask(r, "20.0.96.10.in-addr.arpa", RRType.ptr) == nil)
        // A slice that arrives before its Service is kept for it.
        r.upsert(SliceInfo(namespace: "late", name: "late-1", service: "late", endpoints: [EndpointInfo(ip: ip("10.244.3.3"))]))
        r.upsert(ServiceInfo(namespace: "late", name: "late", kind: .headless))
        #expect(ask(r, "late.late.svc.cluster.local")?.data == ["10.244.3.3"])
        // A ClusterIP that changes moves its PTR.
        r.upsert(ServiceInfo(namespace: "otherns", name: "other", kind: .clusterIP([ip("10.96.0.31")])))
        #expect(ask(r, "30.0.96.10.in-addr.arpa", RRType.ptr) == nil)
        #expect(ask(r, "31.0.96.10.in-addr.arpa", RRType.ptr)?.data == ["other.otherns.svc.cluster.local"])
    }

    @Test func beforeTheFirstListClusterNamesFailSoft() throws {
        let fresh = ClusterRecords()
        let a = try #require(ask(fresh, "web.default.svc.cluster.local"))
        #expect(a.rcode == 2 && !a.authoritative)
    }

    @Test func largeAnswersAreTruncatedForUDP() throws {
        let big = ClusterRecords()
        big.upsert(ServiceInfo(namespace: "default", name: "many", kind: .headless))
        big.upsert(SliceInfo(namespace: "default", name: "many-1", service: "many",
                             endpoints: (1...100).map { EndpointInfo(ip: ip("10.244.9.0") + UInt32($0)) }))
        big.synced = true
        let udp = try #require(ask(big, "many.default.svc.cluster.local", limit: 512))
        #expect(udp.truncated && udp.answers.isEmpty)
        let edns = try #require(ask(big, "many.default.svc.cluster.local", limit: 4096, edns: 4096))
        #expect(!edns.truncated && edns.answers.count == 100 && edns.additional.first?.type == RRType.opt)
    }

    @Test func objectsDecodeFromAPIJSON() throws {
        let svc = try JSONValue.parse(#"{"metadata":{"name":"web","namespace":"default"},"spec":{"clusterIP":"10.96.0.20","clusterIPs":["10.96.0.20"],"ports":[{"name":"http","port":80,"protocol":"TCP"},{"port":53,"protocol":"UDP"}]}}"#)
        #expect(ServiceInfo(json: svc) == ServiceInfo(namespace: "default", name: "web", kind: .clusterIP([ip("10.96.0.20")]),
                                                     ports: [ServicePort(name: "http", proto: "tcp", port: 80), ServicePort(name: "", proto: "udp", port: 53)]))
        let headless = try JSONValue.parse(#"{"metadata":{"name":"h","namespace":"n"},"spec":{"clusterIP":"None"}}"#)
        #expect(ServiceInfo(json: headless)?.kind == .headless)
        let ext = try JSONValue.parse(#"{"metadata":{"name":"e","namespace":"n"},"spec":{"type":"ExternalName","externalName":"Example.COM."}}"#)
        #expect(ServiceInfo(json: ext)?.kind == .externalName("example.com"))
        let pending = try JSONValue.parse(#"{"metadata":{"name":"p","namespace":"n"},"spec":{"clusterIP":""}}"#)
        #expect(ServiceInfo(json: pending) == nil)
        let slice = try JSONValue.parse(#"{"metadata":{"name":"web-x","namespace":"default","labels":{"kubernetes.io/service-name":"web"}},"addressType":"IPv4","endpoints":[{"addresses":["10.244.0.5"],"hostname":"web-0","conditions":{"ready":true}},{"addresses":["10.244.0.6"],"conditions":{"ready":false}},{"addresses":["10.244.0.7"]}]}"#)
        #expect(SliceInfo(json: slice)?.endpoints == [EndpointInfo(ip: ip("10.244.0.5"), hostname: "web-0"),
                                                      EndpointInfo(ip: ip("10.244.0.6"), ready: false), EndpointInfo(ip: ip("10.244.0.7"))])
        let v6 = try JSONValue.parse(#"{"metadata":{"name":"web-y","namespace":"default","labels":{"kubernetes.io/service-name":"web"}},"addressType":"IPv6"}"#)
        #expect(SliceInfo(json: v6) == nil)
        let pod = try JSONValue.parse(#"{"metadata":{"name":"p","namespace":"n"},"status":{"podIP":"10.244.0.9","podIPs":[{"ip":"10.244.0.9"}]}}"#)
        #expect(PodInfo(json: pod)?.ips == [ip("10.244.0.9")])
    }
}
