// Persistent storage on a real cluster (`skiff up`, kubectl 1.33): the default local-path class
// provisions a directory on the pod's node when the pod is scheduled, the data outlives its pod
// and the next pod reads it, pvc-protection holds a claim while a pod uses it, Delete reclaim
// removes the directory, a static hostPath volume with Retain goes Released and keeps its data,
// a claim nothing can satisfy stays Pending saying why, and a StatefulSet's volumeClaimTemplates
// give each replica a claim of its own that survives the pod.
import Foundation
import Testing
import TestSupport

@Suite(.serialized, .enabled(if: TestEnv.isRoot, "runs the whole cluster"))
struct PersistentStorageRootTests {
    static func pod(_ name: String, claim: String, command: String, restart: String = "Never") -> String {
        """
        apiVersion: v1
        kind: Pod
        metadata: {name: \(name)}
        spec:
          restartPolicy: \(restart)
          terminationGracePeriodSeconds: 1
          containers:
          - {name: c, image: "busybox:latest", imagePullPolicy: IfNotPresent, command: ["sh", "-c", "\(command)"],
             volumeMounts: [{name: data, mountPath: /data}]}
          volumes: [{name: data, persistentVolumeClaim: {claimName: \(claim)}}]
        """
    }

    static let claim = """
    apiVersion: v1
    kind: PersistentVolumeClaim
    metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 64Mi}}}
    """

    @Test func dynamicClaimsKeepDataUntilReclaimed() throws {
        let up = try SkiffUp(name: "skiff-storage")
        defer { up.stop() }
        func k(_ args: String...) throws -> (status: Int32, stdout: String, stderr: String) { try up.k(args) }
        func apply(_ yaml: String) throws { let r = try up.k(["apply", "-f", "-"], stdin: yaml); #expect(r.status == 0, "\(r)") }
        func phase(_ what: String) throws -> String { try k("get", what, "-o", "jsonpath={.status.phase}").stdout }

        #expect(try k("get", "storageclass").stdout.contains("local-path (default)"))
        try apply(Self.claim)
        // WaitForFirstConsumer: nothing is provisioned before a pod uses the claim.
        Thread.sleep(forTimeInterval: 1)
        #expect(try phase("pvc/data") == "Pending")
        #expect(try k("describe", "pvc", "data").stdout.contains("waiting for first consumer to be created before binding"))

        try apply(Self.pod("writer", claim: "data", command: "echo kept > /data/file; hostname > /data/who"))
        #expect(try TestEnv.eventually(60) { try phase("pod/writer") == "Succeeded" }, "\((try? k("describe", "pod", "writer"))?.stdout ?? "") \(up.log)")
        #expect(try phase("pvc/data") == "Bound")
        let volume = try k("get", "pvc", "data", "-o", "jsonpath={.spec.volumeName}").stdout
        let dir = up.dir + "/node/storage/" + volume
        #expect(volume.hasPrefix("pvc-") && FileManager.default.fileExists(atPath: dir + "/file"), "\(volume)")
        let affinity = try k("get", "pv", volume, "-o", "jsonpath={.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values[0]}").stdout
        let nodeName = try k("get", "nodes", "-o", "jsonpath={.items[0].metadata.name}").stdout
        #expect(!affinity.isEmpty && nodeName == affinity, "\(affinity) vs \(nodeName)")

        // The next pod reads what the first wrote.
        try apply(Self.pod("reader", claim: "data", command: "cat /data/file"))
        #expect(try TestEnv.eventually(60) { try phase("pod/reader") == "Succeeded" })
        #expect(try k("logs", "reader").stdout == "kept\n")

        // pvc-protection: a claim in use stays until its pod is gone.
        try apply(Self.pod("holder", claim: "data", command: "sleep 3600", restart: "Always"))
        #expect(try TestEnv.eventually(60) { try phase("pod/holder") == "Running" })
        #expect(try k("delete", "pvc", "data", "--wait=false").status == 0)
        Thread.sleep(forTimeInterval: 2)
        #expect(try k("get", "pvc", "data", "--no-headers").stdout.contains("Terminating"))
        #expect(try k("delete", "pod", "holder", "writer", "reader").status == 0)
        #expect(try TestEnv.eventually(30) { try k("get", "pvc", "data").status != 0 })
        // Delete reclaim: the volume and its directory go.
        #expect(try TestEnv.eventually(30) { try k("get", "pv", volume).status != 0 && !FileManager.default.fileExists(atPath: dir) },
                "\((try? k("get", "pv", "-o", "wide"))?.stdout ?? "")")
    }

    @Test func staticVolumesRetainAndUnbindableClaimsWait() throws {
        let up = try SkiffUp(name: "skiff-storage-static")
        defer { up.stop() }
        func k(_ args: String...) throws -> (status: Int32, stdout: String, stderr: String) { try up.k(args) }
        func apply(_ yaml: String) throws { let r = try up.k(["apply", "-f", "-"], stdin: yaml); #expect(r.status == 0, "\(r)") }
        func phase(_ what: String) throws -> String { try k("get", what, "-o", "jsonpath={.status.phase}").stdout }
        let hostDir = up.dir + "/static-disk"
        try apply("""
        apiVersion: v1
        kind: PersistentVolume
        metadata: {name: static-disk}
        spec:
          capacity: {storage: 1Gi}
          accessModes: [ReadWriteOnce]
          persistentVolumeReclaimPolicy: Retain
          storageClassName: ""
          hostPath: {path: \(hostDir), type: DirectoryOrCreate}
        ---
        apiVersion: v1
        kind: PersistentVolumeClaim
        metadata: {name: manual}
        spec: {accessModes: [ReadWriteOnce], storageClassName: "", resources: {requests: {storage: 512Mi}}}
        ---
        apiVersion: v1
        kind: PersistentVolumeClaim
        metadata: {name: nowhere}
        spec: {accessModes: [ReadWriteOnce], storageClassName: nope, resources: {requests: {storage: 1Gi}}}
        """)
        #expect(try TestEnv.eventually(20) { try phase("pvc/manual") == "Bound" && phase("pv/static-disk") == "Bound" })
        try apply(Self.pod("writer", claim: "manual", command: "echo retained > /data/file"))
        #expect(try TestEnv.eventually(60) { try phase("pod/writer") == "Succeeded" }, "\((try? k("describe", "pod", "writer"))?.stdout ?? "")")
        #expect(try k("delete", "pod", "writer").status == 0)
        #expect(try k("delete", "pvc", "manual").status == 0)
        #expect(try TestEnv.eventually(20) { try phase("pv/static-disk") == "Released" })
        #expect((try? String(contentsOfFile: hostDir + "/file", encoding: .utf8)) == "retained\n")

        // The claim no class can satisfy waits and says why.
        #expect(try phase("pvc/nowhere") == "Pending")
        let described = try k("describe", "pvc", "nowhere").stdout
        #expect(described.contains("storageclass.storage.k8s.io \"nope\" not found"), "\(described)")
    }

    @Test func statefulSetReplicasGetClaimsOfTheirOwn() throws {
        let up = try SkiffUp(name: "skiff-storage-sts")
        defer { up.stop() }
        func k(_ args: String...) throws -> (status: Int32, stdout: String, stderr: String) { try up.k(args) }
        let manifest = """
        apiVersion: apps/v1
        kind: StatefulSet
        metadata: {name: db}
        spec:
          serviceName: db
          replicas: 2
          selector: {matchLabels: {app: db}}
          template:
            metadata: {labels: {app: db}}
            spec:
              terminationGracePeriodSeconds: 1
              containers:
              - {name: db, image: "busybox:latest", imagePullPolicy: IfNotPresent,
                 command: ["sh", "-c", "cat /data/boot 2>/dev/null; hostname >> /data/boot; sleep 3600"],
                 volumeMounts: [{name: data, mountPath: /data}]}
          volumeClaimTemplates:
          - metadata: {name: data}
            spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 16Mi}}}
        """
        let applied = try up.k(["apply", "-f", "-"], stdin: manifest)
        #expect(applied.status == 0, "\(applied)")
        let rolled = try k("rollout", "status", "statefulset/db", "--timeout=90s")
        #expect(rolled.status == 0, "\(rolled) \((try? k("get", "pvc,pv", "-o", "wide"))?.stdout ?? "") \(up.log)")
        #expect(try k("get", "pvc", "data-db-0", "data-db-1", "-o", "jsonpath={.items[*].status.phase}").stdout == "Bound Bound")
        // A replica's pod replaced keeps its claim and its data.
        #expect(try k("delete", "pod", "db-1").status == 0)
        #expect(try TestEnv.eventually(60) {
            try k("logs", "db-1").stdout == "db-1\n"
        }, "\((try? k("get", "pods"))?.stdout ?? "")")
    }
}
