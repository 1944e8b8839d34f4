// Claims on a real node, set up statically (a hostPath PV reserved for its claim, which the PV
// controller binds): pods sharing a volume, read-only mounts, fsGroup, a pod waiting for its
// claim, mount propagation from the host (and back, privileged), the local-path provisioner's
// directories (and its refusal to delete outside them), ephemeral volumes' claims, and downward
// API files following label changes.
import API
import Client
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

extension Cluster {
    /// A hostPath volume at `path` (DirectoryOrCreate) on this node, or a local one (the directory
    /// must exist), and claim `name` bound to it.
    func boundClaim(_ name: String, path: String, local: Bool = false) throws {
        let volumeName = "pv-" + name
        var claim = PersistentVolumeClaim.new(namespace: "default", name: name)
        claim.spec.accessModes = ["ReadWriteOnce"]
        claim.spec.resources.requests = ["storage": "1Gi"]
        claim.spec.storageClassName = ""
        claim.spec.volumeName = volumeName
        let created = try api.create(claim)
        try bind(created, to: volumeName, path: path, local: local)
    }

    /// The volume for a claim that exists, reserved for it; the PV controller binds the two.
    func bind(_ claim: PersistentVolumeClaim, to volumeName: String, path: String, local: Bool = false) throws {
        var pv = PersistentVolume.new(name: volumeName)
        pv.spec.capacity = ["storage": "1Gi"]
        pv.spec.accessModes = ["ReadWriteOnce"]
        pv.spec.reclaimPolicy = .retain
        pv.spec.storageClassName = claim.spec.storageClassName
        if local {
            pv.spec.local.path = path
        } else {
            pv.spec.hostPath.path = path
            pv.spec.hostPath.type = "DirectoryOrCreate"
        }
        pv.spec.claimRef = claim.objectReference
        pv.spec.nodeAffinity.required.nodeSelectorTerms = [hostnameTerm()]
        _ = try api.create(pv)
        #expect(try eventually {
            try api.get(PersistentVolumeClaim.self, namespace: claim.namespace, name: claim.name)?.status.phase == "Bound"
        }, "the PV controller binds \(claim.name) to \(volumeName)")
    }

    func hostnameTerm() -> NodeSelectorTerm { .node(named: nodeName) }

    /// Events about an object (any namespace's: a PersistentVolume's are in default too).
    func events(about name: String) throws -> [(reason: String, message: String)] {
        let list = try api.get("/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3D\(name)").json()
        return (list["items"]?.arrayValue ?? []).map { ($0["reason"]?.stringValue ?? "", $0["message"]?.stringValue ?? "") }
    }

    func waiting(_ pod: String) throws -> (reason: String, message: String)? {
        guard let w = try status(pod, "c")?.value(at: "state.waiting") else { return nil }
        return (w["reason"]?.stringValue ?? "", w["message"]?.stringValue ?? "")
    }
}

func gid(of path: String) -> gid_t? {
    var st = stat()
    return stat(path, &st) == 0 ? st.st_gid : nil
}

@Suite(.serialized, .enabled(if: TestEnv.isRoot, "runs containers and mounts"))
struct StorageRootTests {
    @Test func aClaimIsSharedByPodsReadOnlyWhereAskedAndOwnedByFSGroup() throws {
        let c = try Cluster()
        defer { c.stop() }
        // A local volume: fsGroup re-owns it (a plain hostPath volume it leaves alone, as the kubelet).
        let data = c.dir + "/pv-shared"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        try c.boundClaim("shared", path: data, local: true)
        try c.createPod("""
        apiVersion: v1
        kind: Pod
        metadata: {name: writer}
        spec:
          nodeName: \(c.nodeName)
          terminationGracePeriodSeconds: 1
          securityContext: {runAsUser: 1000, fsGroup: 2345}
          volumes: [{name: data, persistentVolumeClaim: {claimName: shared}}]
          containers:
          - name: c
            image: busybox:test
            volumeMounts: [{name: data, mountPath: /data}]
            command: ["sh", "-c", "echo hello > /data/file && echo wrote=yes; echo ls=$(ls -ldn /data); echo done=1; sleep 1000"]
        """)
        let writer = fields(try c.waitForLog("writer", "c", "done=1"))
        #expect(writer["wrote"] == "yes", "user 1000 writes through fsGroup 2345: \(writer) \(c.nodeLog)")
        #expect(writer["ls"]?.hasPrefix("drwxrws") == true && writer["ls"]?.contains(" 2345 ") == true, "\(writer)")
        #expect(gid(of: data) == 2345)
        #expect((try? String(contentsOfFile: data + "/file", encoding: .utf8)) == "hello\n", "the data is on the host")

        try c.createPod("""
        apiVersion: v1
        kind: Pod
        metadata: {name: reader}
        spec:
          nodeName: \(c.nodeName)
          terminationGracePeriodSeconds: 1
          volumes:
          - {name: ro, persistentVolumeClaim: {claimName: shared, readOnly: true}}
          - {name: rw, persistentVolumeClaim: {claimName: shared}}
          containers:
          - name: c
            image: busybox:test
            volumeMounts: [{name: ro, mountPath: /ro}, {name: rw, mountPath: /rwro, readOnly: true}, {name: rw, mountPath: /rw}]
            command: ["sh", "-c", "echo read=$(cat /ro/file); touch /ro/x 2>/dev/null && echo ro=writable || echo ro=refused; touch /rwro/x 2>/dev/null && echo mountro=writable || echo mountro=refused; touch /rw/y && echo rw=ok; echo done=1; sleep 1000"]
        """)
        let reader = fields(try c.waitForLog("reader", "c", "done=1"))
        #expect(reader["read"] == "hello", "a second pod sees the first one's file: \(reader)")
        #expect(reader["ro"] == "refused", "persistentVolumeClaim.readOnly")
        #expect(reader["mountro"] == "refused", "volumeMounts[].readOnly")
        #expect(reader["rw"] == "ok")
        #expect(!FileManager.default.fileExists(atPath: data + "/x"))
    }

    @Test func aPodWaitsInContainerCreatingUntilItsClaimIsBound() throws {
        let c = try Cluster()
        defer { c.stop() }
        try c.createPod("""
        apiVersion: v1
        kind: Pod
        metadata: {name: patient}
        spec:
          nodeName: \(c.nodeName)
          terminationGracePeriodSeconds: 1
          volumes: [{name: data, persistentVolumeClaim: {claimName: later}}]
          containers:
          - {name: c, image: busybox:test, volumeMounts: [{name: data, mountPath: /data}], command: ["sh", "-c", "echo done=1; sleep 1000"]}
        """)
        #expect(try c.eventually {
            try c.events(about: "patient").contains { $0.reason == "FailedMount" && $0.message.contains("persistentvolumeclaims \"later\" not found") }
        }, "\((try? c.events(about: "patient")) ?? []) \(c.nodeLog)")
        #expect(try c.waiting("patient")?.reason == "ContainerCreating")
        #expect(try c.pod("patient")?.value(at: "status.phase") == "Pending")
        #expect(try c.containers().isEmpty, "no sandbox before the volumes are there")

        var claim = PersistentVolumeClaim.new(namespace: "default", name: "later")
        claim.spec.accessModes = ["ReadWriteOnce"]
        claim.spec.resources.requests = ["storage": "1Gi"]
        claim.spec.storageClassName = ""
        claim.spec.volumeName = "pv-later"
        let created = try c.api.create(claim)
        #expect(try c.eventually {
            try c.events(about: "patient").contains { $0.message.contains("error processing PVC default/later: PVC is not bound") }
        }, "\((try? c.events(about: "patient")) ?? [])")
        try c.bind(created, to: "pv-later", path: c.dir + "/pv-later")
        #expect(try c.waitForLog("patient", "c", "done=1").contains("done=1"), "\(c.nodeLog)")
        #expect(try c.eventually { try c.pod("patient")?.value(at: "status.phase") == "Running" })
    }

    @Test func mountPropagationFromTheHostAndBackForPrivilegedContainers() throws {
        let c = try Cluster()
        defer { c.stop() }
        // A shared mount on the host, as the kubelet makes its root dir.
        let data = c.dir + "/pv-prop"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        #expect(mount(data, data, nil, UInt(MS_BIND), nil) == 0 && mount(nil, data, nil, UInt(MS_SHARED), nil) == 0)
        try c.boundClaim("prop", path: data)
        try c.createPod("""
        apiVersion: v1
        kind: Pod
        metadata: {name: watcher}
        spec:
          nodeName: \(c.nodeName)
          terminationGracePeriodSeconds: 1
          volumes: [{name: data, persistentVolumeClaim: {claimName: prop}}]
          containers:
          - name: c
            image: busybox:test
            volumeMounts: [{name: data, mountPath: /slave, mountPropagation: HostToContainer}, {name: data, mountPath: /private}]
            command: ["sh", "-c", "echo up=1; while [ ! -e /slave/sub/marker ]; do sleep 0.2; done; echo seen=1; echo private=$(ls /private/sub | wc -l); echo done=1; sleep 1000"]
        """)
        #expect(try c.waitForLog("watcher", "c", "up=1").contains("up=1"), "\(String(describing: try? c.waiting("watcher")))")
        try FileManager.default.createDirectory(atPath: data + "/sub", withIntermediateDirectories: true)
        #expect(mount("tmpfs", data + "/sub", "tmpfs", 0, "size=1m") == 0)
        _ = FileManager.default.createFile(atPath: data + "/sub/marker", contents: Data())
        let watcher = fields(try c.waitForLog("watcher", "c", "done=1"))
        #expect(watcher["seen"] == "1", "a host mount below a HostToContainer volume appears inside: \(watcher) \(c.nodeLog)")
        #expect(watcher["private"] == "0", "and not in a None (rprivate) mount: \(watcher)")

        try c.createPod("""
        apiVersion: v1
        kind: Pod
        metadata: {name: bidi-refused}
        spec:
          nodeName: \(c.nodeName)
          terminationGracePeriodSeconds: 1
          volumes: [{name: data, persistentVolumeClaim: {claimName: prop}}]
          containers:
          - {name: c, image: busybox:test, volumeMounts: [{name: data, mountPath: /shared, mountPropagation: Bidirectional}], command: ["sleep", "1000"]}
        """)
        #expect(try c.eventually { try c.waiting("bidi-refused")?.message.contains("Bidirectional mount propagation is available only to privileged containers") == true },
                "\(String(describing: try? c.waiting("bidi-refused")))")

        func hostMounts() -> [String] {
            TestEnv.mountinfo().split(separator: "\n").compactMap { line in
                let f = line.split(separator: " ")
                // Not our node's, nor other tests' under /tmp (parallel tests mount their containers' rootfs meanwhile).
                let path = String(f.count > 4 ? f[4] : "")
                let othersTemp = path.hasPrefix("/tmp/") && !path.hasPrefix(c.dir + "/")
                return f.count > 4 && !path.hasPrefix(c.dir + "/node/") && !othersTemp ? path : nil
            }
        }
        let before = hostMounts()
        try c.createPod("""
        apiVersion: v1
        kind: Pod
        metadata: {name: bidi}
        spec:
          nodeName: \(c.nodeName)
          terminationGracePeriodSeconds: 1
          volumes: [{name: data, persistentVolumeClaim: {claimName: prop}}]
          containers:
          - name: c
            image: busybox:test
            securityContext: {privileged: true}
            volumeMounts: [{name: data, mountPath: /shared, mountPropagation: Bidirectional}]
            command: ["sh", "-c", "mkdir -p /shared/inner && mount -t tmpfs none /shared/inner && touch /shared/inner/from-container && echo done=1; sleep 1000"]
        """)
        #expect(try c.waitForLog("bidi", "c", "done=1").contains("done=1"), "\(String(describing: try? c.waiting("bidi")))")
        #expect(try c.eventually(5) { FileManager.default.fileExists(atPath: data + "/inner/from-container") },
                "a privileged container's mount below a Bidirectional volume appears on the host: \(c.nodeLog)")
        #expect(hostMounts() == before + [data + "/inner"], "and nothing else: the host's mounts are as they were")
    }

    @Test func theLocalPathProvisionerMakesAndRemovesItsDirectoriesOnly() throws {
        let c = try Cluster()
        defer { c.stop() }
        // (The master's default class `local-path` provisions through skiff.io/local-path.)
        var claim = PersistentVolumeClaim.new(namespace: "default", name: "auto")
        claim.metadata.annotations = ["volume.kubernetes.io/storage-provisioner": "skiff.io/local-path",
                                      "volume.kubernetes.io/selected-node": c.nodeName]
        claim.spec.accessModes = ["ReadWriteOnce"]
        claim.spec.resources.requests = ["storage": "2Gi"]
        claim.spec.storageClassName = "local-path"
        let created = try c.api.create(claim)
        let name = "pvc-" + created.uid
        var pv: PersistentVolume?
        #expect(try c.eventually { pv = try c.api.get(PersistentVolume.self, namespace: nil, name: name); return pv != nil }, "\(c.nodeLog)")
        let storage = (URL(fileURLWithPath: c.dir + "/node/storage").resolvingSymlinksInPath().path)
        let dir = storage + "/" + name
        #expect(pv?.spec.hostPath.path == dir)
        #expect(pv?.spec.capacity?["storage"] == "2Gi" && pv?.spec.claimRef.uid == created.uid)
        var st = stat()
        #expect(stat(dir, &st) == 0 && st.st_mode & 0o777 == 0o777)
        #expect(try c.eventually { try c.events(about: "auto").contains { $0.reason == "ProvisioningSucceeded" } })

        // Released (its claim gone): the directory goes, then the volume.
        _ = FileManager.default.createFile(atPath: dir + "/left-behind", contents: Data("x".utf8))
        // (The claim deleted: the PV controller releases the volume, the node reclaims it.)
        _ = try c.api.delete(created)
        #expect(try c.eventually { try c.api.get(PersistentVolume.self, namespace: nil, name: name) == nil }, "\(c.nodeLog)")
        #expect(!FileManager.default.fileExists(atPath: dir))

        // A released "local-path" volume naming a directory outside the storage root is refused.
        let victim = c.dir + "/victim"
        try FileManager.default.createDirectory(atPath: victim, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: victim + "/precious", contents: Data("keep".utf8))
        // (Its claim is long gone, so the PV controller releases it at once.)
        func evilVolume(_ name: String, path: String) -> PersistentVolume {
            var bad = PersistentVolume.new(name: name)
            bad.metadata.annotations = ["pv.kubernetes.io/provisioned-by": "skiff.io/local-path"]
            bad.spec.capacity = ["storage": "1Gi"]
            bad.spec.accessModes = ["ReadWriteOnce"]
            bad.spec.reclaimPolicy = .delete
            bad.spec.hostPath.path = path
            bad.spec.nodeAffinity.required.nodeSelectorTerms = [c.hostnameTerm()]
            bad.spec.claimRef.namespace = "default"
            bad.spec.claimRef.name = "gone"
            bad.spec.claimRef.uid = "00000000-0000-0000-0000-000000000000"
            return bad
        }
        _ = try c.api.create(evilVolume("pvc-evil", path: victim))
        #expect(try c.eventually { try c.events(about: "pvc-evil").contains { $0.reason == "VolumeFailedDelete" } }, "\(c.nodeLog)")
        #expect(try c.api.get(PersistentVolume.self, namespace: nil, name: "pvc-evil")?.status.phase == .released)
        // A path through ".." does not even get in: the API refuses it.
        #expect(throws: APIStatusError.self) { try c.api.create(evilVolume("pvc-dotdot", path: storage + "/../../victim")) }
        #expect(FileManager.default.fileExists(atPath: victim + "/precious"))
    }

    @Test func anEphemeralVolumeGetsAClaimOwnedByThePod() throws {
        let c = try Cluster()
        defer { c.stop() }
        try c.createPod("""
        apiVersion: v1
        kind: Pod
        metadata: {name: eph}
        spec:
          nodeName: \(c.nodeName)
          terminationGracePeriodSeconds: 1
          volumes:
          - name: scratch
            ephemeral:
              volumeClaimTemplate:
                metadata: {labels: {kind: scratch}}
                spec: {accessModes: [ReadWriteOnce], storageClassName: "", resources: {requests: {storage: 1Gi}}}
          containers:
          - {name: c, image: busybox:test, volumeMounts: [{name: scratch, mountPath: /scratch}], command: ["sleep", "1000"]}
        """)
        let uid = try #require(try c.pod("eph")?.value(at: "metadata.uid")?.stringValue)
        var claim: PersistentVolumeClaim?
        #expect(try c.eventually { claim = try c.api.get(PersistentVolumeClaim.self, namespace: "default", name: "eph-scratch"); return claim != nil })
        #expect(claim?.controllerRef?.uid == uid && claim?.controllerRef?.kind == "Pod")
        #expect(claim?.metadata.labels?["kind"] == "scratch")
        // No volume fits yet: the node waits for the claim to be bound.
        #expect(try c.eventually { try c.events(about: "eph").contains { $0.reason == "FailedMount" && $0.message.contains("PVC default/eph-scratch: PVC is not bound") } },
                "\((try? c.events(about: "eph")) ?? [])")
        // A volume that fits comes: the PV controller binds the claim and the pod starts.
        var pv = PersistentVolume.new(name: "pv-eph")
        pv.spec.capacity = ["storage": "2Gi"]
        pv.spec.accessModes = ["ReadWriteOnce"]
        pv.spec.storageClassName = ""
        pv.spec.reclaimPolicy = .retain
        pv.spec.hostPath.path = c.dir + "/pv-eph"
        pv.spec.hostPath.type = "DirectoryOrCreate"
        pv.spec.nodeAffinity.required.nodeSelectorTerms = [c.hostnameTerm()]
        _ = try c.api.create(pv)
        #expect(try c.eventually(30) { try c.pod("eph")?.value(at: "status.phase") == "Running" }, "\(c.nodeLog)")
        // The pod deleted: the garbage collector takes its claim, and the volume is released.
        _ = try c.api.request("DELETE", "/api/v1/namespaces/default/pods/eph")
        #expect(try c.eventually(30) { try c.api.get(PersistentVolumeClaim.self, namespace: "default", name: "eph-scratch") == nil })
        #expect(try c.eventually { try c.api.get(PersistentVolume.self, namespace: nil, name: "pv-eph")?.status.phase == .released })
    }

    @Test func downwardAPIFilesFollowLabelChangesAtOnce() throws {
        let c = try Cluster(startNode: false)
        defer { c.stop() }
        c.syncFrequency = 600   // the periodic refresh can't be what updates the file
        try c.startNode()
        try c.createPod("""
        apiVersion: v1
        kind: Pod
        metadata: {name: labelled, labels: {tier: one}}
        spec:
          nodeName: \(c.nodeName)
          terminationGracePeriodSeconds: 1
          volumes: [{name: info, downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]}}]
          containers:
          - {name: c, image: busybox:test, volumeMounts: [{name: info, mountPath: /info}], command: ["sh", "-c", "while true; do echo now=$(cat /info/labels); sleep 0.3; done"]}
        """)
        _ = try c.waitForLog("labelled", "c", "now=tier=\"one\"")
        let patch: JSONValue = ["metadata": ["labels": ["tier": "two"]]]
        let r = try c.api.request("PATCH", "/api/v1/namespaces/default/pods/labelled", body: patch.serialized(), contentType: "application/merge-patch+json")
        #expect(r.code == 200)
        #expect(try c.waitForLog("labelled", "c", "now=tier=\"two\"", seconds: 10).contains("tier=\"two\""), "\(c.nodeLog)")
    }
}
