// The garbage collector follows ownerReferences: dependents whose owner is gone are deleted
// (propagationPolicy Background, the default); an owner deleted with Orphan keeps the
// "orphan" finalizer until its dependents no longer point at it; one deleted with Foreground
// keeps "foregroundDeletion" until its dependents are gone. An owner is checked with a live GET
// before anything is deleted, so a dependent created a moment before its owner reaches the
// informer survives.
import API
import Client
import Foundation

final class GarbageCollector: Controller, InitialKeys, @unchecked Sendable {
    let name = "garbagecollector"
    let informers: SharedInformers
    let queue = WorkQueue()
    static let scan = "scan"

    init(informers: SharedInformers) {
        self.informers = informers
        for owners in ownerInformers {
            owners.onEvent { [self] event in
                switch event {
                case .deleted: queue.add(Self.scan)
                case .added(let o), .updated(_, let o): if o["metadata"]?["deletionTimestamp"] != nil { queue.add(Self.scan) }
                }
            }
        }
        // Pods own their ephemeral volumes' claims: a pod that goes takes them along (scanned
        // only when some claim has a pod owner, not on every pod deletion of the cluster).
        informers.pods.onEvent { [self] event in
            guard case .deleted = event, informers.claims.items.contains(where: Self.hasPodOwner) else { return }
            queue.add(Self.scan)
        }
    }

    static func hasPodOwner(_ claim: JSONValue) -> Bool {
        PersistentVolumeClaim(json: claim).metadata.ownerReferences.contains { $0.kind == Pod.kind }
    }

    func initialKeys() -> [String] { [Self.scan] }

    var ownerInformers: [Informer] {
        [informers.replicaSets, informers.replicationControllers, informers.deployments, informers.services, informers.jobs, informers.cronJobs,
         informers.daemonSets, informers.statefulSets]
    }

    /// Dependent informers, the API path of each object, and whether such objects own others
    /// (a foreground deletion cascades through those).
    var dependents: [(informer: Informer, path: (JSONValue) -> String, ownsOthers: Bool)] {
        func path(_ collection: String) -> (JSONValue) -> String {
            { "\(collection.replacingOccurrences(of: "NS", with: $0["metadata"]?["namespace"]?.stringValue ?? ""))/\($0["metadata"]?["name"]?.stringValue ?? "")" }
        }
        return [(informers.pods, path("/api/v1/namespaces/NS/pods"), false),
                (informers.replicaSets, path("/apis/apps/v1/namespaces/NS/replicasets"), true),
                (informers.jobs, path("/apis/batch/v1/namespaces/NS/jobs"), true),
                (informers.controllerRevisions, path("/apis/apps/v1/namespaces/NS/controllerrevisions"), false),
                (informers.claims, path("/api/v1/namespaces/NS/persistentvolumeclaims"), false),
                (informers.endpointSlices, path("/apis/discovery.k8s.io/v1/namespaces/NS/endpointslices"), false)]
    }

    /// The API path of an owner reference in a namespace (nil for kinds we don't collect for).
    static func ownerPath(_ ref: JSONValue, namespace: String) -> String? {
        let name = ref["name"]?.stringValue ?? ""
        switch (ref["apiVersion"]?.stringValue ?? "", ref["kind"]?.stringValue ?? "") {
        case ("apps/v1", "ReplicaSet"): return "/apis/apps/v1/namespaces/\(namespace)/replicasets/\(name)"
        case ("apps/v1", "Deployment"): return "/apis/apps/v1/namespaces/\(namespace)/deployments/\(name)"
        case ("v1", "ReplicationController"): return "/api/v1/namespaces/\(namespace)/replicationcontrollers/\(name)"
        case ("v1", "Service"): return "/api/v1/namespaces/\(namespace)/services/\(name)"
        case ("apps/v1", "DaemonSet"): return "/apis/apps/v1/namespaces/\(namespace)/daemonsets/\(name)"
        case ("apps/v1", "StatefulSet"): return "/apis/apps/v1/namespaces/\(namespace)/statefulsets/\(name)"
        case ("batch/v1", "Job"): return "/apis/batch/v1/namespaces/\(namespace)/jobs/\(name)"
        case ("batch/v1", "CronJob"): return "/apis/batch/v1/namespaces/\(namespace)/cronjobs/\(name)"
        case ("v1", "Pod"): return "/api/v1/namespaces/\(namespace)/pods/\(name)"
        default: return nil
        }
    }

    func sync(_ key: String, client: APIClient) throws {
        defer { queue.addAfter(Self.scan, 10) }
        var owners: [String: JSONValue] = [:]
        for inf in ownerInformers { for o in inf.items { owners[uid(o)] = o } }
        if informers.claims.items.contains(where: Self.hasPodOwner) { for pod in informers.pods.items { owners[uid(pod)] = pod } }
        // Background: dependents of owners that are gone.
        for (informer, path, _) in dependents {
            for dep in informer.items where dep["metadata"]?["deletionTimestamp"] == nil {
                let refs = dep["metadata"]?["ownerReferences"]?.arrayValue ?? []
                guard !refs.isEmpty else { continue }
                let ns = dep["metadata"]?["namespace"]?.stringValue ?? ""
                var alive = false
                for ref in refs {
                    let ownerUID = ref["uid"]?.stringValue ?? ""
                    if owners[ownerUID] != nil { alive = true; break }
                    guard let ownerPath = Self.ownerPath(ref, namespace: ns) else { alive = true; break }   // not ours to judge
                    // Confirm with the API server: the informer may just not have seen the owner yet.
                    let r = try client.get(ownerPath)
                    if r.code == 200, let live = try? r.json(), uid(live) == ownerUID { alive = true; break }
                    if r.code != 404 && r.code != 200 { alive = true; break }
                }
                if !alive { try client.send("DELETE", path(dep), missingOK: true) }
            }
        }
        // Orphan and Foreground deletions waiting on us.
        for owner in owners.values where owner["metadata"]?["deletionTimestamp"] != nil {
            let finalizers = (owner["metadata"]?["finalizers"]?.arrayValue ?? []).compactMap(\.stringValue)
            guard finalizers.contains("orphan") || finalizers.contains("foregroundDeletion") else { continue }
            let ownerUID = uid(owner)
            let children = dependents.flatMap { inf, path, ownsOthers in
                inf.items.filter { ($0["metadata"]?["ownerReferences"]?.arrayValue ?? []).contains { $0["uid"]?.stringValue == ownerUID } }
                    .map { (object: $0, path: path($0), ownsOthers: ownsOthers) }
            }
            if finalizers.contains("orphan") {
                for (child, childPath, _) in children {
                    let kept = (child["metadata"]?["ownerReferences"]?.arrayValue ?? []).filter { $0["uid"]?.stringValue != ownerUID }
                    try client.send("PATCH", childPath, ["metadata": ["ownerReferences": .array(kept)]], contentType: "application/merge-patch+json", missingOK: true)
                }
                try removeFinalizer("orphan", from: owner, client: client)
            } else if finalizers.contains("foregroundDeletion") {
                for child in children where child.object["metadata"]?["deletionTimestamp"] == nil {
                    // Dependents that own nothing themselves (pods, slices) need no finalizer of their own.
                    try client.send("DELETE", child.path + (child.ownsOthers ? "?propagationPolicy=Foreground" : ""), missingOK: true)
                }
                if children.isEmpty { try removeFinalizer("foregroundDeletion", from: owner, client: client) }
            }
        }
    }

    func removeFinalizer(_ finalizer: String, from owner: JSONValue, client: APIClient) throws {
        guard let ref = ownerRefOf(owner), let path = Self.ownerPath(ref, namespace: owner["metadata"]?["namespace"]?.stringValue ?? "") else { return }
        let kept = (owner["metadata"]?["finalizers"]?.arrayValue ?? []).filter { $0.stringValue != finalizer }
        try client.send("PATCH", path, ["metadata": ["finalizers": .array(kept)]], contentType: "application/merge-patch+json", missingOK: true)
    }

    /// An owner reference pointing at `o` (to reuse ownerPath for it).
    func ownerRefOf(_ o: JSONValue) -> JSONValue? {
        guard let kind = o["kind"]?.stringValue ?? inferredKind(o) else { return nil }
        let apiVersion = ["ReplicaSet": "apps/v1", "Deployment": "apps/v1", "ReplicationController": "v1", "Service": "v1",
                          "Job": "batch/v1", "CronJob": "batch/v1", "DaemonSet": "apps/v1",
                          "StatefulSet": "apps/v1"][kind] ?? "v1"
        return ["apiVersion": .string(apiVersion), "kind": .string(kind), "name": o["metadata"]?["name"] ?? ""]
    }

    func inferredKind(_ o: JSONValue) -> String? {
        let id = uid(o)
        if informers.replicaSets.items.contains(where: { uid($0) == id }) { return "ReplicaSet" }
        if informers.deployments.items.contains(where: { uid($0) == id }) { return "Deployment" }
        if informers.replicationControllers.items.contains(where: { uid($0) == id }) { return "ReplicationController" }
        if informers.services.items.contains(where: { uid($0) == id }) { return "Service" }
        if informers.jobs.items.contains(where: { uid($0) == id }) { return "Job" }
        if informers.cronJobs.items.contains(where: { uid($0) == id }) { return "CronJob" }
        if informers.daemonSets.items.contains(where: { uid($0) == id }) { return "DaemonSet" }
        if informers.statefulSets.items.contains(where: { uid($0) == id }) { return "StatefulSet" }
        return nil
    }
}
