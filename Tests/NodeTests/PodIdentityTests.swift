// What the agent gives a pod to find the cluster and to be someone in it, without root:
// /etc/resolv.conf per dnsPolicy and dnsConfig, the host resolver's parsing, the pod FQDN,
// service environment variables, and the token manager's refresh rule.
import API
import Foundation
@testable import Node
import Testing

@Suite struct ResolvConfTests {
    let host = ResolvConf(parsing: """
        # the host's
        nameserver 10.255.255.53
        search corp.example lab.example
        options timeout:2
        """)

    func settings(_ servers: [String] = ["10.96.0.10"]) -> ClusterDNSSettings {
        ClusterDNSSettings(servers: servers, domain: "cluster.local", host: host)
    }

    @Test func hostFileParsing() {
        #expect(host.nameservers == ["10.255.255.53"])
        #expect(host.searches == ["corp.example", "lab.example"])
        #expect(host.options == ["timeout:2"])
        // glibc: the last of search/domain wins; comments and odd keywords are ignored.
        let other = ResolvConf(parsing: "search a.example\ndomain b.example\nsortlist 10.0.0.0\nnameserver 1.1.1.1 # x\nnameserver 8.8.8.8\n")
        #expect(other.searches == ["b.example"])
        #expect(other.nameservers == ["1.1.1.1", "8.8.8.8"])
    }

    @Test func clusterFirstIsTheDefault() {
        let pod = json(#"{"metadata":{"namespace":"shop"},"spec":{}}"#)
        let (conf, warning) = PodDNS.resolvConf(pod, settings: settings())
        #expect(warning == nil)
        #expect(conf.text == """
            search shop.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example
            nameserver 10.96.0.10
            options ndots:5

            """)
    }

    @Test func hostNetworkPodsUseTheHostUnlessWithHostNet() {
        let hostNet = json(#"{"metadata":{"namespace":"a"},"spec":{"hostNetwork":true}}"#)
        #expect(PodDNS.resolvConf(hostNet, settings: settings()).0 == host)
        let withHostNet = json(#"{"metadata":{"namespace":"a"},"spec":{"hostNetwork":true,"dnsPolicy":"ClusterFirstWithHostNet"}}"#)
        #expect(PodDNS.resolvConf(withHostNet, settings: settings()).0.nameservers == ["10.96.0.10"])
        let hostDefault = json(#"{"metadata":{"namespace":"a"},"spec":{"dnsPolicy":"Default"}}"#)
        #expect(PodDNS.resolvConf(hostDefault, settings: settings()).0 == host)
    }

    @Test func noneTakesDnsConfigAndMergesOptions() {
        let pod = json(#"""
            {"metadata":{"namespace":"a"},"spec":{"dnsPolicy":"None","dnsConfig":{
              "nameservers":["1.2.3.4"],"searches":["ns1.svc.cluster-domain.example","my.dns.search.suffix"],
              "options":[{"name":"ndots","value":"2"},{"name":"edns0"}]}}}
            """#)
        let (conf, _) = PodDNS.resolvConf(pod, settings: settings())
        #expect(conf == ResolvConf(nameservers: ["1.2.3.4"], searches: ["ns1.svc.cluster-domain.example", "my.dns.search.suffix"],
                                   options: ["ndots:2", "edns0"]))
        // dnsConfig on top of ClusterFirst: its ndots replaces the default one, servers are appended.
        let merged = json(#"{"metadata":{"namespace":"a"},"spec":{"dnsConfig":{"nameservers":["1.2.3.4"],"options":[{"name":"ndots","value":"1"}]}}}"#)
        let (m, _) = PodDNS.resolvConf(merged, settings: settings())
        #expect(m.nameservers == ["10.96.0.10", "1.2.3.4"])
        #expect(m.options == ["ndots:1"])
    }

    @Test func missingClusterDNSFallsBackWithAWarning() {
        let pod = json(#"{"metadata":{"namespace":"a"},"spec":{}}"#)
        let (conf, warning) = PodDNS.resolvConf(pod, settings: settings([]))
        #expect(conf == host)
        #expect(warning?.contains("Falling back to \"Default\" policy") == true)
    }

    @Test func limitsAreApplied() {
        let pod = json(#"{"metadata":{"namespace":"a"},"spec":{"dnsConfig":{"nameservers":["1.1.1.1","2.2.2.2","3.3.3.3"]}}}"#)
        let (conf, warning) = PodDNS.resolvConf(pod, settings: settings())
        #expect(conf.nameservers == ["10.96.0.10", "1.1.1.1", "2.2.2.2"])
        #expect(warning?.contains("Nameserver limits were exceeded") == true)
    }

    @Test func fqdnNeedsASubdomain() {
        let pod = json(#"{"metadata":{"namespace":"db"},"spec":{"hostname":"pg-0","subdomain":"pg"}}"#)
        #expect(PodDNS.fqdn(pod, hostname: "pg-0", domain: "cluster.local") == "pg-0.pg.db.svc.cluster.local")
        #expect(PodDNS.fqdn(json(#"{"metadata":{"namespace":"db"},"spec":{}}"#), hostname: "x", domain: "cluster.local") == nil)
    }
}

@Suite struct ServiceEnvironmentTests {
    let services = [
        ServiceLink(name: "kubernetes", namespace: "default", clusterIP: "10.96.0.1", ports: [.init(name: "https", port: 443, proto: "TCP")]),
        ServiceLink(name: "redis-primary", namespace: "shop", clusterIP: "10.96.0.11", ports: [.init(name: "", port: 6379, proto: "TCP")]),
        ServiceLink(name: "other", namespace: "elsewhere", clusterIP: "10.96.0.12", ports: [.init(name: "", port: 80, proto: "TCP")]),
    ]

    @Test func dockerLinkVariables() {
        let visible = ServiceEnvironment.visible(services, namespace: "shop", enableServiceLinks: true)
        #expect(visible.map(\.name) == ["kubernetes", "redis-primary"])
        let vars = Dictionary(ServiceEnvironment.variables(visible), uniquingKeysWith: { a, _ in a })
        #expect(vars["KUBERNETES_SERVICE_HOST"] == "10.96.0.1")
        #expect(vars["KUBERNETES_SERVICE_PORT"] == "443")
        #expect(vars["KUBERNETES_SERVICE_PORT_HTTPS"] == "443")
        #expect(vars["REDIS_PRIMARY_SERVICE_HOST"] == "10.96.0.11")
        #expect(vars["REDIS_PRIMARY_PORT"] == "tcp://10.96.0.11:6379")
        #expect(vars["REDIS_PRIMARY_PORT_6379_TCP"] == "tcp://10.96.0.11:6379")
        #expect(vars["REDIS_PRIMARY_PORT_6379_TCP_PROTO"] == "tcp")
        #expect(vars["REDIS_PRIMARY_PORT_6379_TCP_PORT"] == "6379")
        #expect(vars["REDIS_PRIMARY_PORT_6379_TCP_ADDR"] == "10.96.0.11")
        #expect(vars["OTHER_SERVICE_HOST"] == nil)
    }

    @Test func enableServiceLinksFalseKeepsOnlyTheMaster() {
        #expect(ServiceEnvironment.visible(services, namespace: "shop", enableServiceLinks: false).map(\.name) == ["kubernetes"])
    }

    @Test func headlessServicesHaveNoLink() {
        #expect(ServiceLink(json(#"{"metadata":{"name":"h","namespace":"a"},"spec":{"clusterIP":"None","ports":[{"port":80}]}}"#)) == nil)
        #expect(ServiceLink(json(#"{"metadata":{"name":"w","namespace":"a"},"spec":{"clusterIP":"10.96.0.5","ports":[{"port":80}]}}"#))?.ports.first?.proto == "TCP")
    }

    @Test func podVariablesOverrideServiceVariables() throws {
        struct Objects: ObjectSource {
            let links: [ServiceLink]
            func object(resource: String, namespace: String, name: String) throws -> JSONValue? { nil }
            func services() -> [ServiceLink] { links }
        }
        let pod = json(#"{"metadata":{"namespace":"shop"},"spec":{}}"#)
        let container = json(#"{"name":"c","env":[{"name":"KUBERNETES_SERVICE_HOST","value":"override"},{"name":"U","value":"$(REDIS_PRIMARY_SERVICE_HOST)"}]}"#)
        let env = try PodEnvironment.build(container: container, pod: pod, objects: Objects(links: services), nodeAllocatable: { _ in nil })
            .map { $0.0 + "=" + $0.1 }
        #expect(env.contains("KUBERNETES_SERVICE_HOST=override"))
        #expect(!env.contains("KUBERNETES_SERVICE_HOST=10.96.0.1"))
        #expect(env.contains("U=10.96.0.11"))
    }
}

@Suite struct TokenManagerTests {
    final class Counter: @unchecked Sendable { var calls = 0 }

    @Test func refreshesAfterEightyPercentOfItsLife() throws {
        let counter = Counter()
        let start = Date(timeIntervalSince1970: 1_000_000)
        let manager = TokenManager { _, projection in
            counter.calls += 1
            return .init(token: "t\(counter.calls)", issued: start, expires: start.addingTimeInterval(Double(projection.expirationSeconds)))
        }
        let owner = TokenOwner(pod: json(#"{"metadata":{"namespace":"a","name":"p","uid":"u1"},"spec":{}}"#))
        let projection = TokenProjection(json(#"{"path":"token","expirationSeconds":3607}"#))
        #expect(owner.serviceAccount == "default")
        #expect(try manager.token(for: owner, projection, now: start) == "t1")
        #expect(try manager.token(for: owner, projection, now: start.addingTimeInterval(2_800)) == "t1")
        #expect(try manager.token(for: owner, projection, now: start.addingTimeInterval(2_900)) == "t2")
        manager.forget(podUID: "u1")
        #expect(try manager.token(for: owner, projection, now: start) == "t3")
    }

    @Test func keepsAValidTokenWhenTheMasterIsAway() throws {
        struct Away: Error {}
        let counter = Counter()
        let start = Date(timeIntervalSince1970: 1_000_000)
        let manager = TokenManager { _, _ in
            counter.calls += 1
            if counter.calls > 1 { throw Away() }
            return .init(token: "only", issued: start, expires: start.addingTimeInterval(3600))
        }
        let owner = TokenOwner(pod: json(#"{"metadata":{"namespace":"a","name":"p","uid":"u1"},"spec":{"serviceAccountName":"robot"}}"#))
        let projection = TokenProjection(json(#"{"path":"token"}"#))
        #expect(try manager.token(for: owner, projection, now: start) == "only")
        #expect(try manager.token(for: owner, projection, now: start.addingTimeInterval(3000)) == "only")
        #expect(throws: Away.self) { try manager.token(for: owner, projection, now: start.addingTimeInterval(3700)) }
    }
}
