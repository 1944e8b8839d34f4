// ReplicaSets and ReplicationControllers: as many active pods as spec.replicas. Pods are owned
// through a controller ownerReference; matching orphans are adopted and owned pods that stop
// matching are released. Expectations (creates/deletes issued but not yet seen by the informer)
// keep a burst of syncs from creating or deleting twice. The least valuable pods go first.
import API
import Client
import Foundation

final class ReplicaSetController: Controller, InitialKeys, @unchecked Sendable {
    enum Kind { case replicaSet, replicationController }

    let kind: Kind
    let informers: SharedInformers
    let queue = WorkQueue()
    let expectations = Expectations()
    var name: String { kind == .replicaSet ? "replicaset" : "replicationcontroller" }
    var kindName: String { kind == .replicaSet ? "ReplicaSet" : "ReplicationController" }
    var apiVersion: String { kind == .replicaSet ? "apps/v1" : "v1" }
    var informer: Informer { kind == .replicaSet ? informers.replicaSets : informers.replicationControllers }

    init(kind: Kind, informers: SharedInformers) {
        self.kind = kind
        self.informers = informers
        informer.onEvent { [self] event in
            switch event {
            case .added(let o), .updated(_, let o): queue.add(objectKey(o))
            case .deleted(let o): expectations.forget(objectKey(o)); queue.add(objectKey(o))
            }
        }
        informers.pods.onEvent { [self] event in
            switch event {
            case .added(let p):
                if let key = ownerKey(p) { expectations.created(key); queue.add(key) } else { enqueueMatching(p) }
            case .updated(let old, let p):
                if let key = ownerKey(p) { queue.add(key) } else { enqueueMatching(p) }
                if let oldKey = ownerKey(old), oldKey != ownerKey(p) { queue.add(oldKey) }
            case .deleted(let p):
                if let key = ownerKey(p) { expectations.deleted(key, pod: objectKey(p)); queue.add(key) }
            }
        }
    }

    func initialKeys() -> [String] { informer.items.map(objectKey) }

    /// ns/name of the pod's controller when it is one of ours.
    func ownerKey(_ pod: JSONValue) -> String? {
        guard let ref = controllerRef(pod), ref["kind"]?.stringValue == kindName, let owner = ref["name"]?.stringValue else { return nil }
        return (pod["metadata"]?["namespace"]?.stringValue ?? "") + "/" + owner
    }

    /// An orphan may be adopted by a controller whose selector matches it.
    func enqueueMatching(_ pod: JSONValue) {
        let ns = pod["metadata"]?["namespace"]?.stringValue ?? ""
        let labels = pod["metadata"]?["labels"]?.stringMap ?? [:]
        for o in informers.inNamespace(informer, ns) where selector(o)?.matches(labels) == true { queue.add(objectKey(o)) }
    }

    func selector(_ o: JSONValue) -> LabelSelector? {
        switch kind {
        case .replicaSet: return try? labelSelector(from: o["spec"]?["selector"])
        case .replicationController:
            let map = o["spec"]?["selector"]?.stringMap ?? o["spec"]?["template"]?["metadata"]?["labels"]?.stringMap ?? [:]
            guard !map.isEmpty else { return nil }
            return try? LabelSelector(parsing: map.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))
        }
    }

    func path(_ ns: String, _ name: String? = nil) -> String {
        let base = kind == .replicaSet ? "/apis/apps/v1/namespaces/\(ns)/replicasets" : "/api/v1/namespaces/\(ns)/replicationcontrollers"
        return name.map { base + "/" + $0 } ?? base
    }

    func sync(_ key: String, client: APIClient) throws {
        guard let owner = informer.get(key), owner["metadata"]?["deletionTimestamp"] == nil else { return }
        let ns = namespaceOf(key), ownerName = nameOf(key), ownerUID = uid(owner)
        guard let sel = selector(owner), !sel.requirements.isEmpty else { return }
        let spec = owner["spec"] ?? .null
        let wanted = Int(spec["replicas"]?.intValue ?? 1)
        // Read before listing: a create seen after the list would otherwise be made twice.
        let expectationsMet = expectations.satisfied(key)
        var owned: [JSONValue] = []
        for pod in informers.inNamespace(informers.pods, ns) {
            let labels = pod["metadata"]?["labels"]?.stringMap ?? [:]
            let ref = controllerRef(pod)
            if ref?["uid"]?.stringValue == ownerUID {
                if sel.matches(labels) { owned.append(pod) } else { try release(pod, ownerUID: ownerUID, client: client) }
            } else if ref == nil, sel.matches(labels), pod["metadata"]?["deletionTimestamp"] == nil, isActive(pod) {
                if try adopt(pod, owner: owner, client: client) { owned.append(pod) }
            }
        }
        let active = owned.filter(isActive)
        if expectationsMet {
            let diff = wanted - active.count
            if diff > 0 {
                try create(diff, owner: owner, key: key, client: client)
            } else if diff < 0 {
                let victims = Self.rankForDeletion(active).prefix(-diff)
                expectations.expectDeletes(key, pods: victims.map(objectKey))
                for pod in victims {
                    try client.send("DELETE", "/api/v1/namespaces/\(ns)/pods/\(pod["metadata"]?["name"]?.stringValue ?? "")", missingOK: true)
                }
            }
        }
        let minReady = spec["minReadySeconds"]?.intValue ?? 0
        let labelsWanted = spec["template"]?["metadata"]?["labels"]?.stringMap ?? [:]
        var status = JSONObject()
        status["replicas"] = .int(Int64(active.count))
        status["fullyLabeledReplicas"] = .int(Int64(active.filter { pod in
            let l = pod["metadata"]?["labels"]?.stringMap ?? [:]
            return labelsWanted.allSatisfy { l[$0.key] == $0.value }
        }.count))
        status["readyReplicas"] = .int(Int64(active.filter(isReady).count))
        status["availableReplicas"] = .int(Int64(active.filter { isAvailable($0, minReadySeconds: minReady) }.count))
        status["observedGeneration"] = owner["metadata"]?["generation"] ?? .int(1)
        if let conditions = owner["status"]?["conditions"] { status["conditions"] = conditions }
        if owner["status"] != .object(status) {
            try client.send("PATCH", path(ns, ownerName) + "/status", ["status": .object(status)], contentType: "application/merge-patch+json", missingOK: true)
        }
        // Pods that become available later change availableReplicas: look again then.
        if minReady > 0, active.contains(where: { isReady($0) && !isAvailable($0, minReadySeconds: minReady) }) {
            queue.addAfter(key, Double(minReady) + 0.1)
        }
    }

    /// Creates in doubling batches (1, 2, 4...) so a failing template fails fast.
    func create(_ count: Int, owner: JSONValue, key: String, client: APIClient) throws {
        let ns = namespaceOf(key), ownerName = nameOf(key)
        let template = owner["spec"]?["template"] ?? .null
        var meta = JSONObject()
        meta["generateName"] = .string(ownerName + "-")
        meta["namespace"] = .string(ns)
        if let labels = template["metadata"]?["labels"] { meta["labels"] = labels }
        if let annotations = template["metadata"]?["annotations"] { meta["annotations"] = annotations }
        meta["ownerReferences"] = [["apiVersion": .string(apiVersion), "kind": .string(kindName), "name": .string(ownerName),
                                    "uid": .string(uid(owner)), "controller": true, "blockOwnerDeletion": true]]
        let pod: JSONValue = ["apiVersion": "v1", "kind": "Pod", "metadata": .object(meta), "spec": template["spec"] ?? .object(JSONObject())]
        let body = pod.serialized()
        expectations.expectCreates(key, count)
        var remaining = count, batch = 1
        while remaining > 0 {
            let n = min(batch, remaining)
            for _ in 0..<n {
                let r = try client.request("POST", "/api/v1/namespaces/\(ns)/pods", body: body)
                if r.code != 201 {
                    expectations.created(key, by: remaining)   // none of the rest will come
                    throw ClientError("creating a pod for \(kindName) \(key): \(r.errorMessage)")
                }
                remaining -= 1
            }
            batch *= 2
        }
    }

    func adopt(_ pod: JSONValue, owner: JSONValue, client: APIClient) throws -> Bool {
        var refs = pod["metadata"]?["ownerReferences"]?.arrayValue ?? []
        refs.append(["apiVersion": .string(apiVersion), "kind": .string(kindName), "name": owner["metadata"]?["name"] ?? "",
                     "uid": .string(uid(owner)), "controller": true, "blockOwnerDeletion": true])
        let patch: JSONValue = ["metadata": ["ownerReferences": .array(refs), "uid": .string(uid(pod))]]
        let r = try client.request("PATCH", "/api/v1/namespaces/\(pod["metadata"]?["namespace"]?.stringValue ?? "")/pods/\(pod["metadata"]?["name"]?.stringValue ?? "")",
                                   body: patch.serialized(), contentType: "application/merge-patch+json")
        return r.code == 200
    }

    func release(_ pod: JSONValue, ownerUID: String, client: APIClient) throws {
        let refs = (pod["metadata"]?["ownerReferences"]?.arrayValue ?? []).filter { $0["uid"]?.stringValue != ownerUID }
        let patch: JSONValue = ["metadata": ["ownerReferences": .array(refs)]]
        try client.send("PATCH", "/api/v1/namespaces/\(pod["metadata"]?["namespace"]?.stringValue ?? "")/pods/\(pod["metadata"]?["name"]?.stringValue ?? "")",
                        patch, contentType: "application/merge-patch+json", missingOK: true)
    }

    /// Least valuable first: unscheduled, then pending/unknown before running, not ready before
    /// ready, ready more recently before longer, more restarts first, newer before older.
    static func rankForDeletion(_ pods: [JSONValue]) -> [JSONValue] {
        func phaseRank(_ p: JSONValue) -> Int {
            switch p["status"]?["phase"]?.stringValue { case "Pending": return 0; case "Running": return 2; default: return 1 }
        }
        func restarts(_ p: JSONValue) -> Int64 {
            (p["status"]?["containerStatuses"]?.arrayValue ?? []).reduce(0) { $0 + ($1["restartCount"]?.intValue ?? 0) }
        }
        return pods.sorted { a, b in
            let sa = (a["spec"]?["nodeName"]?.stringValue ?? "").isEmpty, sb = (b["spec"]?["nodeName"]?.stringValue ?? "").isEmpty
            if sa != sb { return sa }
            if phaseRank(a) != phaseRank(b) { return phaseRank(a) < phaseRank(b) }
            if isReady(a) != isReady(b) { return !isReady(a) }
            let ta = readyCondition(a)?["lastTransitionTime"]?.stringValue ?? "", tb = readyCondition(b)?["lastTransitionTime"]?.stringValue ?? ""
            if isReady(a) && ta != tb { return ta > tb }
            if restarts(a) != restarts(b) { return restarts(a) > restarts(b) }
            let ca = a["metadata"]?["creationTimestamp"]?.stringValue ?? "", cb = b["metadata"]?["creationTimestamp"]?.stringValue ?? ""
            if ca != cb { return ca > cb }
            return objectKey(a) > objectKey(b)
        }
    }
}

/// Creates and deletes a controller issued and has not seen yet (client-go's expectations);
/// they lapse after five minutes so a lost event can't wedge a controller.
final class Expectations: @unchecked Sendable {
    private let lock = NSLock()
    private var adds: [String: Int] = [:]
    private var deletes: [String: Set<String>] = [:]
    private var since: [String: Date] = [:]

    func expectCreates(_ key: String, _ n: Int) { lock.lock(); adds[key, default: 0] += n; since[key] = Date(); lock.unlock() }
    func expectDeletes(_ key: String, pods: [String]) { lock.lock(); deletes[key, default: []].formUnion(pods); since[key] = Date(); lock.unlock() }
    func created(_ key: String, by n: Int = 1) { lock.lock(); if let a = adds[key] { adds[key] = max(0, a - n) }; lock.unlock() }
    func deleted(_ key: String, pod: String) { lock.lock(); deletes[key]?.remove(pod); lock.unlock() }
    func forget(_ key: String) { lock.lock(); adds[key] = nil; deletes[key] = nil; since[key] = nil; lock.unlock() }

    /// A pod change seen by an informer: notes the create or delete its owner (of `ownerKind`)
    /// waits for, and returns the owner's key.
    func observe(old: Pod?, new: Pod?, ownerKind: String) -> String? {
        guard let pod = new ?? old, let ref = pod.controllerRef, ref.kind == ownerKind, let owner = ref.name else { return nil }
        let key = pod.namespace + "/" + owner
        if old == nil { created(key) }
        if new == nil || (new?.isBeingDeleted == true && old?.isBeingDeleted != true) { deleted(key, pod: pod.key) }
        return key
    }

    func satisfied(_ key: String) -> Bool {
        lock.lock(); defer { lock.unlock() }
        if (adds[key] ?? 0) == 0 && (deletes[key]?.isEmpty ?? true) { return true }
        if let t = since[key], Date().timeIntervalSince(t) > 300 { adds[key] = nil; deletes[key] = nil; return true }
        return false
    }
}
