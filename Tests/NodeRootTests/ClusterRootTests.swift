// The whole control loop on two real nodes: the scheduler spreads a Deployment's pods, the
// controllers scale and roll it (within maxUnavailable), roll it back, keep Endpoints, collect
// garbage, and replace the pods of a node whose agent stops.
import API
import Client
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A second `skiff node` beside the Cluster's (own root dir, cgroup root, name).
final class ExtraNode {
    let process = Process()
    let name: String
    let dir: String
    let cgroupRoot: String

    init(cluster c: Cluster) throws {
        name = TestEnv.uniqueName("node2")
        dir = c.dir + "/" + name
        cgroupRoot = TestEnv.uniqueName("skiffpods2")
        let skiff = TestEnv.binDir + "/skiff"
        for tag in ["busybox:test", "busybox:v2"] {
            _ = try TestEnv.capture([skiff, "image", "import", "--root", dir, try TestEnv.busyboxImageLayout(), "--tag", tag])
        }
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "exec \"$0\" node --server http://127.0.0.1:\(c.port) --name \(name) --root-dir \(dir) --cgroup-root \(cgroupRoot) --address 127.0.0.1 --port 0 --node-ip 127.0.0.1 --cni-conf-dir \(dir)/cni-conf --cluster-cidr \(c.clusterCIDR) 2>>\(dir).log", skiff]
        try process.run()
    }

    func kill9() { if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() } }

    func stop() {
        kill9()
        Cluster.removePodNetworks(rootDir: dir)
        let list = (try? TestEnv.capture([TestEnv.binDir + "/skiff", "ps", "-q", "--root", dir]).stdout) ?? ""
        for id in list.split(separator: "\n") { _ = try? TestEnv.capture([TestEnv.binDir + "/skiff", "rm", "-f", "--root", dir, String(id)]) }
        Cluster.removeCgroupRoot(cgroupRoot)
    }
}

@Suite(.serialized, .enabled(if: TestEnv.isRoot, "runs containers"))
struct ClusterRootTests {
    @Test func deploymentsScheduleScaleRollAndSurviveANodeLoss() throws {
        // The grace period must outlast the agents' 10 s lease renewals, or busy nodes flap to Unknown.
        let c = try Cluster(masterArgs: ["--node-monitor-grace-period", "15s", "--pod-eviction-timeout", "1s"])
        defer { c.stop() }
        _ = try TestEnv.capture([TestEnv.binDir + "/skiff", "image", "import", "--root", c.dir + "/node", try TestEnv.busyboxImageLayout(), "--tag", "busybox:v2"])
        let second = try ExtraNode(cluster: c)
        defer { second.stop() }
        #expect(try c.eventually { (try? c.api.get("/api/v1/nodes").json())?["items"]?.arrayValue?.count == 2 })

        let deployment = """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web, labels: {app: web}}
        spec:
          replicas: 3
          selector: {matchLabels: {app: web}}
          strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 1}}
          template:
            metadata: {labels: {app: web}}
            spec:
              terminationGracePeriodSeconds: 1
              containers: [{name: web, image: "busybox:test", command: [sleep, "100000"], ports: [{containerPort: 80}]}]
        """
        let applied = try c.kubectl(["apply", "-f", "-"], stdin: deployment)
        #expect(applied.status == 0, "\(applied.err)")
        let rolled = try c.kubectl(["rollout", "status", "deployment/web", "--timeout=60s"])
        #expect(rolled.status == 0 && rolled.out.contains("successfully rolled out"), "\(rolled)")
        func webPods() throws -> [JSONValue] {
            (try c.api.get("/api/v1/namespaces/default/pods?labelSelector=app%3Dweb").json()["items"]?.arrayValue ?? [])
                .filter { $0["metadata"]?["deletionTimestamp"] == nil }
        }
        let nodes = Set(try webPods().compactMap { $0.value(at: "spec.nodeName")?.stringValue })
        #expect(nodes.count == 2, "three replicas spread over both nodes: \(nodes)")

        // Scale, then a new image rolls out without more than maxUnavailable down at any time.
        let scaled = try c.kubectl(["scale", "deployment/web", "--replicas=4"])
        #expect(scaled.status == 0)
        let scaledOut = try c.kubectl(["rollout", "status", "deployment/web", "--timeout=60s"])
        #expect(scaledOut.status == 0)
        let setImage = try c.kubectl(["set", "image", "deployment/web", "web=busybox:v2"])
        #expect(setImage.status == 0)
        var lowest = Int64.max
        let done = try c.eventually(60) {
            let d = try c.api.get("/apis/apps/v1/namespaces/default/deployments/web").json()
            lowest = min(lowest, d.value(at: "status.availableReplicas")?.intValue ?? 0)
            let pods = try webPods()
            return d.value(at: "status.updatedReplicas")?.intValue == 4 && d.value(at: "status.availableReplicas")?.intValue == 4
                && pods.count == 4 && pods.allSatisfy { $0.value(at: "spec.containers")?.arrayValue?.first?["image"] == "busybox:v2" }
        }
        #expect(done, "\((try? c.kubectl(["get", "rs,pods", "-o", "wide"]).out) ?? "")")
        #expect(lowest >= 3, "availability never fell below replicas - maxUnavailable (lowest seen: \(lowest))")

        // Roll back: the first ReplicaSet comes back (no third one).
        let undo = try c.kubectl(["rollout", "undo", "deployment/web"])
        #expect(undo.status == 0, "\(undo)")
        let undone = try c.kubectl(["rollout", "status", "deployment/web", "--timeout=60s"])
        #expect(undone.status == 0)
        let sets = try c.api.get("/apis/apps/v1/namespaces/default/replicasets").json()["items"]?.arrayValue ?? []
        #expect(sets.count == 2, "\(sets.map { $0.value(at: "metadata.name")?.stringValue ?? "-" })")
        #expect(try webPods().allSatisfy { $0.value(at: "spec.containers")?.arrayValue?.first?["image"] == "busybox:test" })

        // Endpoints follow a service's selector (a hostNetwork pod has an IP before pod networking).
        try c.create("/api/v1/namespaces/default/services", """
        apiVersion: v1
        kind: Service
        metadata: {name: hostsvc}
        spec: {selector: {app: hostnet}, ports: [{name: http, port: 80, targetPort: http}]}
        """)
        try c.createPod("""
        apiVersion: v1
        kind: Pod
        metadata: {name: hostnet, labels: {app: hostnet}}
        spec:
          hostNetwork: true
          terminationGracePeriodSeconds: 1
          containers: [{name: c, image: "busybox:test", command: [sleep, "100000"], ports: [{name: http, containerPort: 18080}]}]
        """)
        #expect(try c.eventually(20) {
            let ep = try c.api.get("/api/v1/namespaces/default/endpoints/hostsvc").json()
            return ep.value(at: "subsets")?.arrayValue?.first?["addresses"]?.arrayValue?.first?["ip"] == "127.0.0.1"
                && ep.value(at: "subsets")?.arrayValue?.first?["ports"]?.arrayValue?.first?["port"] == 18080
        })
        let slice = try c.api.get("/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dhostsvc").json()
        #expect(slice["items"]?.arrayValue?.first?["endpoints"]?.arrayValue?.count == 1)

        // A node whose agent stops: unreachable, its pods replaced on the other node.
        let onSecond = try webPods().filter { $0.value(at: "spec.nodeName")?.stringValue == second.name }.count
        #expect(onSecond > 0)
        second.kill9()
        #expect(try c.eventually(60) {
            let pods = try webPods()
            return pods.count == 4 && pods.allSatisfy { $0.value(at: "spec.nodeName")?.stringValue == c.nodeName && $0.value(at: "status.phase") == "Running" }
        }, "\((try? c.kubectl(["get", "pods", "-o", "wide"]).out) ?? "")")
        let node = try c.api.get("/api/v1/nodes/\(second.name)").json()
        #expect(node["spec"]?["taints"]?.arrayValue?.contains { $0["key"] == "node.kubernetes.io/unreachable" } == true)
        #expect(node["status"]?["conditions"]?.arrayValue?.first { $0["type"] == "Ready" }?["status"] == "Unknown")

        // Garbage collection: --cascade=orphan keeps the pods (unowned), deleting the deployment removes the rest.
        let rsName = (try c.api.get("/apis/apps/v1/namespaces/default/replicasets").json()["items"]?.arrayValue ?? [])
            .first { ($0.value(at: "spec.replicas")?.intValue ?? 0) > 0 }.flatMap { $0.value(at: "metadata.name")?.stringValue } ?? ""
        let orphaned = try c.kubectl(["delete", "deployment", "web", "--cascade=orphan"])
        #expect(orphaned.status == 0)
        #expect(try c.eventually(15) {
            let rs = try c.api.get("/apis/apps/v1/namespaces/default/replicasets/\(rsName)")
            let refs = try rs.json()["metadata"]?["ownerReferences"]?.arrayValue ?? []
            return rs.code == 200 && refs.isEmpty
        })
        let deleted = try c.kubectl(["delete", "rs", rsName])
        #expect(deleted.status == 0)
        #expect(try c.eventually(30) { try webPods().isEmpty }, "pods of a deleted ReplicaSet are collected")
    }

    @Test func recreatePauseAndForegroundDeletion() throws {
        let c = try Cluster()
        defer { c.stop() }
        _ = try TestEnv.capture([TestEnv.binDir + "/skiff", "image", "import", "--root", c.dir + "/node", try TestEnv.busyboxImageLayout(), "--tag", "busybox:v2"])
        let applied = try c.kubectl(["apply", "-f", "-"], stdin: """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: batch}
        spec:
          replicas: 2
          selector: {matchLabels: {app: batch}}
          strategy: {type: Recreate}
          template:
            metadata: {labels: {app: batch}}
            spec:
              terminationGracePeriodSeconds: 1
              containers: [{name: c, image: "busybox:test", command: [sleep, "100000"]}]
        """)
        #expect(applied.status == 0, "\(applied.err)")
        #expect(try c.kubectl(["rollout", "status", "deployment/batch", "--timeout=60s"]).status == 0)
        func images() throws -> [String] {
            (try c.api.get("/api/v1/namespaces/default/pods?labelSelector=app%3Dbatch").json()["items"]?.arrayValue ?? [])
                .filter { $0.value(at: "status.phase") == "Running" && $0["metadata"]?["deletionTimestamp"] == nil }
                .compactMap { $0.value(at: "spec.containers")?.arrayValue?.first?["image"]?.stringValue }
        }
        // Paused: a template change rolls nothing out until resumed.
        #expect(try c.kubectl(["rollout", "pause", "deployment/batch"]).status == 0)
        #expect(try c.kubectl(["set", "image", "deployment/batch", "c=busybox:v2"]).status == 0)
        Thread.sleep(forTimeInterval: 2)
        #expect(try images() == ["busybox:test", "busybox:test"])
        #expect((try c.api.get("/apis/apps/v1/namespaces/default/replicasets").json()["items"]?.arrayValue ?? []).count == 1)
        // Recreate: old and new pods never run side by side.
        #expect(try c.kubectl(["rollout", "resume", "deployment/batch"]).status == 0)
        var mixed = false
        let done = try c.eventually(60) {
            let running = try images()
            if Set(running).count > 1 { mixed = true }
            return running == ["busybox:v2", "busybox:v2"]
        }
        #expect(done && !mixed, "recreate finished without overlap")
        // Foreground: the deployment stays (with its finalizer) until its ReplicaSets and pods are gone.
        let deleted = try c.kubectl(["delete", "deployment", "batch", "--cascade=foreground", "--wait=false"])
        #expect(deleted.status == 0, "\(deleted.err)")
        let during = try c.api.get("/apis/apps/v1/namespaces/default/deployments/batch")
        if during.code == 200 {
            let finalizers = try during.json()["metadata"]?["finalizers"]?.arrayValue ?? []
            #expect(finalizers.contains("foregroundDeletion"))
        }
        #expect(try c.eventually(40) {
            try c.api.get("/apis/apps/v1/namespaces/default/deployments/batch").code == 404
                && (c.api.get("/apis/apps/v1/namespaces/default/replicasets").json()["items"]?.arrayValue ?? []).isEmpty
        }, "\((try? c.kubectl(["get", "deploy,rs,pods"]).out) ?? "")")
        #expect(try c.eventually(20) { try c.appContainers().isEmpty })
    }
}
