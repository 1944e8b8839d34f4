// `skiff master --store etcd`: two masters on one real etcd serve the same API — an object
// written through one is read and watched through the other, services created through both at
// once never share a cluster IP or node port, and a master killed with -9 comes back to the
// same state. Needs etcd-server (hack/install-deps.sh installs it).
import API
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite(.serialized) struct EtcdMasterTests {
    @Test func twoMastersOnOneEtcdServeTheSameAPI() throws {
        _ = try TestEnv.capture([TestEnv.repoRoot + "/hack/install-deps.sh"])
        let etcd = try EtcdCluster(size: 1)
        defer { etcd.stop() }
        let args = ["--store", "etcd", "--etcd-endpoints", etcd.endpoints.joined(separator: ","), "--etcd-prefix", "/" + TestEnv.uniqueName("t")]
        let a = try MasterProcess(extraArgs: args), b = try MasterProcess(extraArgs: args)
        defer { a.stop(); b.stop() }
        let cm = #"{"metadata":{"name":"shared"},"data":{"k":"v"}}"#
        let watch = try b.client.watch("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=0")
        #expect(try a.client.post("/api/v1/namespaces/default/configmaps", cm).code == 201)
        #expect(try b.client.get("/api/v1/namespaces/default/configmaps/shared").json.value(at: "data.k") == "v")
        let event = try watch.next()
        #expect(event?["type"] == "ADDED" && event?.value(at: "object.metadata.name") == "shared")
        // Writes through B conflict with A's view like one server's would.
        let rv = try a.client.get("/api/v1/namespaces/default/configmaps/shared").json.value(at: "metadata.resourceVersion")?.stringValue ?? ""
        #expect(try b.client.put("/api/v1/namespaces/default/configmaps/shared", #"{"metadata":{"name":"shared","resourceVersion":"\#(rv)"},"data":{"k":"b"}}"#).code == 200)
        #expect(try a.client.put("/api/v1/namespaces/default/configmaps/shared", #"{"metadata":{"name":"shared","resourceVersion":"\#(rv)"},"data":{"k":"a"}}"#).code == 409)

        // 40 NodePort services, half through each master, all at once: no address or port twice.
        let results = ConcurrentResults()
        DispatchQueue.concurrentPerform(iterations: 40) { i in
            let c = i % 2 == 0 ? a.client : b.client
            let r = try? c.post("/api/v1/namespaces/default/services", #"{"metadata":{"name":"s\#(i)"},"spec":{"type":"NodePort","ports":[{"port":80}]}}"#)
            results.add(r?.code ?? 0, r?.json ?? .null)
        }
        let created = results.all.filter { $0.0 == 201 }.map(\.1)
        #expect(created.count == 40, "\(results.all.filter { $0.0 != 201 }.map { $0.1.jsonString })")
        let ips = created.compactMap { $0.value(at: "spec.clusterIP")?.stringValue }
        let ports = created.compactMap { $0["spec"]?["ports"]?.arrayValue?.first?["nodePort"]?.intValue }
        #expect(Set(ips).count == 40 && Set(ports).count == 40)
        #expect(!ips.contains("10.96.0.1"))

        // A master killed with -9 comes back to the same state (the state lives in etcd).
        try a.killAndRestart()
        let listed = try a.client.get("/api/v1/namespaces/default/services").json["items"]?.arrayValue ?? []
        #expect(listed.count == 41)   // and `kubernetes`
        #expect(try a.client.get("/api/v1/namespaces/default/configmaps/shared").json.value(at: "data.k") == "b")
    }
}

extension EtcdMasterTests {
    /// `skiff etcd-migrate`: a SQLite master's objects (and its service IP/port claims) continue on etcd.
    @Test func sqliteStateMovesToEtcd() throws {
        let etcd = try EtcdCluster(size: 1)
        defer { etcd.stop() }
        let old = try MasterProcess()
        defer { old.stop() }
        #expect(try old.client.post("/api/v1/namespaces", #"{"metadata":{"name":"moved"}}"#).code == 201)
        #expect(try old.client.post("/api/v1/namespaces/moved/configmaps", #"{"metadata":{"name":"cfg"},"data":{"k":"v"}}"#).code == 201)
        let svc = try old.client.post("/api/v1/namespaces/moved/services", #"{"metadata":{"name":"web"},"spec":{"type":"NodePort","ports":[{"port":80}]}}"#).json
        let uid = svc.value(at: "metadata.uid")?.stringValue
        old.process.terminate(); old.process.waitUntilExit()

        let prefix = "/" + TestEnv.uniqueName("mig")
        let migrate = [TestEnv.binDir + "/skiff", "etcd-migrate", "--data-dir", old.dataDir, "--etcd-endpoints", etcd.endpoints[0], "--etcd-prefix", prefix]
        let r = try TestEnv.capture(migrate)
        #expect(r.status == 0 && r.stdout.contains("copied"), "\(r)")
        // Twice into the same prefix: refused, nothing touched.
        let again = try TestEnv.capture(migrate)
        #expect(again.status != 0 && again.stderr.contains("already holds keys"), "\(again)")

        let m = try MasterProcess(extraArgs: ["--store", "etcd", "--etcd-endpoints", etcd.endpoints[0], "--etcd-prefix", prefix])
        defer { m.stop() }
        #expect(try m.client.get("/api/v1/namespaces/moved/configmaps/cfg").json.value(at: "data.k") == "v")
        let moved = try m.client.get("/api/v1/namespaces/moved/services/web").json
        #expect(moved.value(at: "metadata.uid")?.stringValue == uid && moved.value(at: "spec.clusterIP") == svc.value(at: "spec.clusterIP"))
        // The claims came along: a new service gets other addresses.
        let fresh = try m.client.post("/api/v1/namespaces/moved/services", #"{"metadata":{"name":"other"},"spec":{"type":"NodePort","clusterIP":"\#(svc.value(at: "spec.clusterIP")?.stringValue ?? "")","ports":[{"port":80}]}}"#)
        #expect(fresh.code == 422 && fresh.text.contains("already allocated"), "\(fresh.text)")
    }
}

extension EtcdMasterTests {
    /// Secured masters on one etcd share one CA, join token and service-account key: A's admin
    /// kubeconfig works against B, and a token B issues is accepted by A.
    @Test func securedMastersShareOneClusterIdentity() throws {
        let etcd = try EtcdCluster(size: 1)
        defer { etcd.stop() }
        let args = ["--tls", "--store", "etcd", "--etcd-endpoints", etcd.endpoints[0], "--etcd-prefix", "/" + TestEnv.uniqueName("sec")]
        let a = try MasterProcess(extraArgs: args)
        defer { a.stop() }
        let b = try MasterProcess(extraArgs: args)
        defer { b.stop() }
        func file(_ m: MasterProcess, _ name: String) -> String { (try? String(contentsOfFile: m.dataDir + "/" + name, encoding: .utf8)) ?? "a:" + name }
        #expect(file(a, "tls/ca.crt") == file(b, "tls/ca.crt"))
        #expect(file(a, "node-token") == file(b, "node-token"))
        let kubectl = try TestEnv.kubectl()
        let viaB = try TestEnv.capture([kubectl, "--kubeconfig", a.dataDir + "/admin.kubeconfig", "--server", "https://127.0.0.1:\(b.port)",
                                        "--cache-dir", a.dataDir + "/kc", "create", "serviceaccount", "shared"])
        #expect(viaB.status == 0, "\(viaB.stderr)")
        let token = try TestEnv.capture([kubectl, "--kubeconfig", b.dataDir + "/admin.kubeconfig", "--cache-dir", b.dataDir + "/kc",
                                         "create", "token", "shared"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let onA = try TestEnv.capture(["/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", a.dataDir + "/tls/ca.crt",
                                       "-H", "Authorization: Bearer \(token)", "https://127.0.0.1:\(a.port)/apis"]).stdout
        #expect(onA == "200", "a token from B on A: \(onA)")
    }
}

final class ConcurrentResults: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [(Int, JSONValue)] = []
    func add(_ code: Int, _ body: JSONValue) { lock.lock(); items.append((code, body)); lock.unlock() }
    var all: [(Int, JSONValue)] { lock.lock(); defer { lock.unlock() }; return items }
}
