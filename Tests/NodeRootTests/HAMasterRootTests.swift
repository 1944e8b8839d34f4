// Two masters on a 3-member etcd, each with its scheduler and controllers behind leader
// election: the first leads both; killed (-9) in the middle of a Deployment rollout, the second
// takes over within the lease duration, the rollout completes, the ReplicaSets never ask for more
// than replicas + maxSurge pods between them (two deployment controllers at once would), and no
// pod is scheduled twice.
import API
import Client
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite(.serialized, .enabled(if: TestEnv.isRoot, "runs containers"))
struct HAMasterRootTests {
    func holders(_ api: APIClient) -> [String] {
        ["kube-scheduler", "kube-controller-manager"].map {
            ((try? api.get("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/\($0)").json())?.value(at: "spec.holderIdentity")?.stringValue) ?? ""
        }
    }

    @Test func leaderKilledMidRolloutHandsOver() throws {
        let etcd = try EtcdCluster(size: 3)
        defer { etcd.stop() }
        let lease = 4.0
        let shared = ["--store", "etcd", "--etcd-endpoints", etcd.endpoints.joined(separator: ","), "--leader-elect-lease-duration", "\(Int(lease))s"]
        let c = try Cluster(startNode: false, masterArgs: shared)   // master A
        defer { c.stop() }
        #expect(try c.eventually(30) { holders(c.api).allSatisfy { !$0.isEmpty } })
        let leadersA = holders(c.api)

        // Master B: same store, same cluster CIDR; the node talks to B.
        let b = Process()
        b.executableURL = URL(fileURLWithPath: "/bin/sh")
        b.arguments = ["-c", "exec \"$0\" master --listen 127.0.0.1:0 --dns-port 0 --data-dir \(c.dir)/master-b --cluster-cidr \(c.clusterCIDR) " + shared.joined(separator: " ") + " 2>>\(c.dir)/master-b.log",
                       TestEnv.binDir + "/skiff"]
        try b.run()
        defer { if b.isRunning { kill(b.processIdentifier, SIGKILL); b.waitUntilExit() } }
        var bPort = 0
        #expect(try c.eventually(20) {
            let log = (try? String(contentsOfFile: c.dir + "/master-b.log", encoding: .utf8)) ?? ""
            guard let r = log.range(of: "http://127.0.0.1:") else { return false }
            bPort = Int(log[r.upperBound...].prefix { $0.isNumber }) ?? 0
            return bPort > 0
        })
        let api = try APIClient(server: "http://127.0.0.1:\(bPort)")
        c.nodeServer = "http://127.0.0.1:\(bPort)"
        try c.startNode()
        #expect(holders(api) == leadersA, "B waits: A still leads")

        let manifest = """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: ha}
        spec:
          replicas: 4
          selector: {matchLabels: {app: ha}}
          strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
          template:
            metadata: {labels: {app: ha}}
            spec:
              terminationGracePeriodSeconds: 1
              containers: [{name: c, image: "busybox:test", command: [sleep, "100000"]}]
        """
        let created = try api.request("POST", "/apis/apps/v1/namespaces/default/deployments", body: Array(manifest.utf8), contentType: "application/yaml")
        #expect(created.code == 201, "\(created.text)")
        func deployment(_ api: APIClient) -> JSONValue { (try? api.get("/apis/apps/v1/namespaces/default/deployments/ha").json()) ?? .null }
        func livePods() -> [JSONValue] {
            ((try? api.get("/api/v1/namespaces/default/pods?labelSelector=app%3Dha").json())?["items"]?.arrayValue ?? [])
                .filter { $0["metadata"]?["deletionTimestamp"] == nil }
        }
        #expect(try c.eventually(60) { deployment(api).value(at: "status.readyReplicas")?.intValue == 4 }, "\(c.nodeLog.suffix(2000))")

        // Roll out a new template; A dies in the middle of it.
        let patched = try api.request("PATCH", "/apis/apps/v1/namespaces/default/deployments/ha",
                                      body: Array(#"{"spec":{"template":{"metadata":{"annotations":{"rev":"2"}}}}}"#.utf8),
                                      contentType: "application/strategic-merge-patch+json")
        #expect(patched.code == 200)
        var most = 0, mostLive = 0
        var trace: [String] = []
        var bound: [String: String] = [:]   // pod uid → node
        var rebound: [String] = []
        func observe() {
            let sets = (try? api.get("/apis/apps/v1/namespaces/default/replicasets").json())?["items"]?.arrayValue ?? []
            let asked = sets.reduce(0) { $0 + Int($1.value(at: "spec.replicas")?.intValue ?? 0) }
            if asked > most { trace.append("\(asked) at \(Date().timeIntervalSince1970): " + sets.map { ($0.value(at: "metadata.name")?.stringValue ?? "") + "=\($0.value(at: "spec.replicas")?.intValue ?? 0)" }.joined(separator: " ")) }
            most = max(most, asked)
            let pods = livePods()
            mostLive = max(mostLive, pods.count)
            for p in pods {
                guard let uid = p.value(at: "metadata.uid")?.stringValue, let node = p.value(at: "spec.nodeName")?.stringValue else { continue }
                if let was = bound[uid], was != node { rebound.append(uid) }
                bound[uid] = node
            }
        }
        _ = c.eventually(10) { observe(); return (deployment(api).value(at: "status.updatedReplicas")?.intValue ?? 0) >= 1 }
        kill(c.master.processIdentifier, SIGKILL)
        c.master.waitUntilExit()
        let killed = Date()
        trace.append("killed at \(killed.timeIntervalSince1970)")
        var takeover = 0.0
        #expect(try c.eventually(lease * 3) {
            observe()
            let now = holders(api)
            if zip(now, leadersA).allSatisfy({ $0 != $1 && !$0.isEmpty }) { takeover = Date().timeIntervalSince(killed); return true }
            return false
        })
        #expect(takeover <= lease + 1.5, "B leads \(takeover)s after A died (lease \(lease)s)")
        let done = try c.eventually(90) {
            observe()
            let d = deployment(api)
            let pods = livePods()
            return d.value(at: "status.updatedReplicas")?.intValue == 4 && d.value(at: "status.readyReplicas")?.intValue == 4
                && d.value(at: "status.replicas")?.intValue == 4 && pods.count == 4
                && pods.allSatisfy { $0.value(at: "metadata.annotations.rev") == "2" }
        }
        #expect(done, "\(deployment(api).jsonString)")
        #expect(most <= 5, "the ReplicaSets never asked for more than replicas + maxSurge: \(trace) (live pods peaked at \(mostLive) while old ones were being deleted)")
        #expect(rebound.isEmpty, "pods bound twice: \(rebound)")
        // One Scheduled event per pod: no second scheduler bound any of them again.
        let events = (try api.get("/api/v1/namespaces/default/events").json()["items"]?.arrayValue ?? [])
            .filter { $0["reason"] == "Scheduled" }
        var perPod: [String: Int64] = [:]
        for e in events { perPod[e.value(at: "involvedObject.uid")?.stringValue ?? "", default: 0] += e["count"]?.intValue ?? 1 }
        #expect(perPod.values.allSatisfy { $0 == 1 }, "\(perPod)")
    }
}
