// Deployments roll their pod template out through ReplicaSets, named and labelled by a hash of
// the template (pod-template-hash) and numbered by the revision annotation: RollingUpdate
// (maxSurge/maxUnavailable, minReadySeconds) or Recreate; old ReplicaSets beyond
// revisionHistoryLimit go; going back to an old template (rollout undo) revives its ReplicaSet
// with a new revision; paused deployments don't roll. Status and the Available/Progressing
// conditions are what `kubectl rollout status` reads.
import API
import Client
import Foundation

final class DeploymentController: Controller, InitialKeys, @unchecked Sendable {
    let name = "deployment"
    let informers: SharedInformers
    let queue = WorkQueue()
    static let revisionAnnotation = "deployment.kubernetes.io/revision"
    static let hashLabel = "pod-template-hash"

    init(informers: SharedInformers) {
        self.informers = informers
        informers.deployments.onEvent { [self] event in
            switch event {
            case .added(let d), .updated(_, let d), .deleted(let d): queue.add(objectKey(d))
            }
        }
        informers.replicaSets.onEvent { [self] event in
            switch event {
            case .added(let rs), .updated(_, let rs), .deleted(let rs):
                guard let ref = controllerRef(rs), ref["kind"]?.stringValue == "Deployment", let d = ref["name"]?.stringValue else { return }
                queue.add((rs["metadata"]?["namespace"]?.stringValue ?? "") + "/" + d)
            }
        }
    }

    func initialKeys() -> [String] { informers.deployments.items.map(objectKey) }

    /// kube's pod-template-hash: FNV-1a (32 bit) of the template, its decimal digits mapped to a
    /// vowel-free alphabet. Hashed in a canonical form (keys sorted, nulls dropped) so a template
    /// that comes back through a patch in another key order (rollout undo) hashes the same.
    static func templateHash(_ template: JSONValue) -> String {
        var h: UInt32 = 2166136261
        for b in canonical(template).serialized() { h ^= UInt32(b); h = h &* 16777619 }
        let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
        return String(String(h).map { alphabet[Int($0.asciiValue ?? 0) % alphabet.count] })
    }

    /// Keys sorted, null members dropped (kubectl sends "creationTimestamp": null in templates).
    static func canonical(_ v: JSONValue) -> JSONValue {
        switch v {
        case .object(let o):
            let pairs = o.filter { !$0.value.isNull }.sorted { $0.key < $1.key }.map { ($0.key, canonical($0.value)) }
            return .object(JSONObject(pairs))
        case .array(let a): return .array(a.map(canonical))
        default: return v
        }
    }

    /// maxSurge/maxUnavailable: an int, or a percent of replicas (surge rounds up, unavailable down).
    static func resolve(_ v: JSONValue?, default fallback: String, replicas: Int64, roundUp: Bool) -> Int64 {
        let value = v ?? .string(fallback)
        if let n = value.intValue { return n }
        guard let s = value.stringValue, s.hasSuffix("%"), let p = Double(s.dropLast()) else { return 0 }
        let x = Double(replicas) * p / 100
        return Int64(roundUp ? x.rounded(.up) : x.rounded(.down))
    }

    static func revision(_ rs: JSONValue) -> Int64 {
        Int64(rs["metadata"]?["annotations"]?[revisionAnnotation]?.stringValue ?? "") ?? 0
    }

    static func replicas(_ rs: JSONValue) -> Int64 { rs["spec"]?["replicas"]?.intValue ?? 0 }
    /// Available pods, never more than the ReplicaSet is meant to have: its status lags a scale-down,
    /// and counting pods being removed would let old ReplicaSets shrink twice.
    static func available(_ rs: JSONValue) -> Int64 { min(rs["status"]?["availableReplicas"]?.intValue ?? 0, replicas(rs)) }

    /// The template without the hash label and nulls (what a ReplicaSet's template is compared by).
    static func comparable(_ template: JSONValue?) -> JSONValue {
        var t = template ?? .null
        t["metadata"]?["labels"]?[hashLabel] = nil
        return canonical(t)
    }

    func sync(_ key: String, client: APIClient) throws {
        guard let d = informers.deployments.get(key), d["metadata"]?["deletionTimestamp"] == nil else { return }
        let ns = namespaceOf(key), dname = nameOf(key), duid = uid(d)
        let spec = d["spec"] ?? .null
        guard let sel = try? labelSelector(from: spec["selector"]), !sel.requirements.isEmpty else { return }
        var rses: [JSONValue] = []
        for rs in informers.inNamespace(informers.replicaSets, ns) where rs["metadata"]?["deletionTimestamp"] == nil {
            if controllerRef(rs)?["uid"]?.stringValue == duid { rses.append(rs); continue }
            if controllerRef(rs) == nil, sel.matches(rs["metadata"]?["labels"]?.stringMap ?? [:]) {
                var refs = rs["metadata"]?["ownerReferences"]?.arrayValue ?? []
                refs.append(["apiVersion": "apps/v1", "kind": "Deployment", "name": .string(dname), "uid": .string(duid),
                             "controller": true, "blockOwnerDeletion": true])
                try client.send("PATCH", rsPath(ns, rs["metadata"]?["name"]?.stringValue ?? ""), ["metadata": ["ownerReferences": .array(refs)]],
                                contentType: "application/merge-patch+json", missingOK: true)
                rses.append(rs)
            }
        }
        let template = spec["template"] ?? .null
        let hash = Self.templateHash(Self.comparable(template))
        let wanted = Self.comparable(template)
        var newRS = rses.first { $0["metadata"]?["labels"]?[Self.hashLabel]?.stringValue == hash }
            ?? rses.first { Self.comparable($0["spec"]?["template"]) == wanted }
        let oldRSes = rses.filter { uid($0) != uid(newRS ?? .null) }.sorted { Self.revision($0) < Self.revision($1) }
        let maxRevision = rses.map(Self.revision).max() ?? 0
        let replicas = spec["replicas"]?.intValue ?? 1
        let paused = spec["paused"]?.boolValue == true
        var progressed = false

        if !paused {
            // A template seen before (rollout undo) gets the newest revision again.
            if let rs = newRS, Self.revision(rs) < maxRevision || Self.revision(rs) == 0 {
                try client.send("PATCH", rsPath(ns, rs["metadata"]?["name"]?.stringValue ?? ""),
                                ["metadata": ["annotations": [Self.revisionAnnotation: .string(String(maxRevision + 1))]]],
                                contentType: "application/merge-patch+json", missingOK: true)
                progressed = true
            }
            if spec["strategy"]?["type"]?.stringValue == "Recreate" {
                progressed = try recreate(d, newRS: &newRS, oldRSes: oldRSes, hash: hash, maxRevision: maxRevision, client: client) || progressed
            } else {
                progressed = try rollingUpdate(d, newRS: &newRS, oldRSes: oldRSes, hash: hash, maxRevision: maxRevision, client: client) || progressed
            }
            try cleanup(d, oldRSes: oldRSes, client: client)
        } else if let rs = newRS, oldRSes.allSatisfy({ Self.replicas($0) == 0 }), Self.replicas(rs) != replicas {
            try scale(rs, to: replicas, client: client)   // scaling works while paused
        }
        try updateStatus(d, newRS: newRS, all: rses, progressed: progressed, paused: paused, client: client)
    }

    func rsPath(_ ns: String, _ name: String? = nil) -> String {
        "/apis/apps/v1/namespaces/\(ns)/replicasets" + (name.map { "/" + $0 } ?? "")
    }

    func scale(_ rs: JSONValue, to n: Int64, client: APIClient) throws {
        let ns = rs["metadata"]?["namespace"]?.stringValue ?? "", name = rs["metadata"]?["name"]?.stringValue ?? ""
        try client.send("PATCH", rsPath(ns, name), ["spec": ["replicas": .int(n)]], contentType: "application/merge-patch+json", missingOK: true)
    }

    /// The new ReplicaSet: the template with the hash label, selector narrowed by it.
    func createNewRS(_ d: JSONValue, hash: String, replicas: Int64, revision: Int64, client: APIClient) throws -> JSONValue {
        let ns = d["metadata"]?["namespace"]?.stringValue ?? "", dname = d["metadata"]?["name"]?.stringValue ?? ""
        var template = d["spec"]?["template"] ?? .null
        template["metadata"]?["labels"]?[Self.hashLabel] = .string(hash)
        var selector = d["spec"]?["selector"] ?? .null
        var matchLabels = selector["matchLabels"]?.objectValue ?? JSONObject()
        matchLabels[Self.hashLabel] = .string(hash)
        selector["matchLabels"] = .object(matchLabels)
        let rs: JSONValue = [
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": ["name": .string("\(dname)-\(hash)"), "namespace": .string(ns),
                         "labels": template["metadata"]?["labels"] ?? .object(JSONObject()),
                         "annotations": [Self.revisionAnnotation: .string(String(revision)),
                                         "deployment.kubernetes.io/desired-replicas": .string(String(d["spec"]?["replicas"]?.intValue ?? 1))],
                         "ownerReferences": [["apiVersion": "apps/v1", "kind": "Deployment", "name": .string(dname), "uid": .string(uid(d)),
                                              "controller": true, "blockOwnerDeletion": true]]],
            "spec": ["replicas": .int(replicas), "minReadySeconds": d["spec"]?["minReadySeconds"] ?? 0, "selector": selector, "template": template],
        ]
        let r = try client.request("POST", rsPath(ns), body: rs.serialized())
        if r.code == 201 { return try r.json() }
        if r.code == 409, let existing = try? client.get(rsPath(ns, "\(dname)-\(hash)")), existing.code == 200 { return try existing.json() }
        throw ClientError("creating ReplicaSet for deployment \(ns)/\(dname): \(r.errorMessage)")
    }

    /// Returns whether anything was scaled.
    func rollingUpdate(_ d: JSONValue, newRS: inout JSONValue?, oldRSes: [JSONValue], hash: String, maxRevision: Int64,
                       client: APIClient) throws -> Bool {
        let spec = d["spec"] ?? .null
        let replicas = spec["replicas"]?.intValue ?? 1
        let ru = spec["strategy"]?["rollingUpdate"]
        let maxSurge = Self.resolve(ru?["maxSurge"], default: "25%", replicas: replicas, roundUp: true)
        var maxUnavailable = Self.resolve(ru?["maxUnavailable"], default: "25%", replicas: replicas, roundUp: false)
        if maxSurge == 0 && maxUnavailable == 0 { maxUnavailable = 1 }
        var changed = false
        let oldTotal = oldRSes.reduce(0) { $0 + Self.replicas($1) }
        if newRS == nil {
            let start = oldTotal == 0 ? replicas : max(0, min(replicas + maxSurge - oldTotal, replicas))
            newRS = try createNewRS(d, hash: hash, replicas: start, revision: maxRevision + 1, client: client)
            changed = true
        }
        guard let current = newRS else { return changed }
        var newReplicas = Self.replicas(current)
        if newReplicas > replicas {
            try scale(current, to: replicas, client: client); newReplicas = replicas; changed = true
        } else if newReplicas < replicas {
            let up = min(replicas + maxSurge - (oldTotal + newReplicas), replicas - newReplicas)
            if up > 0 { newReplicas += up; try scale(current, to: newReplicas, client: client); changed = true }
        }
        // Scale old ReplicaSets down as far as availability allows: their unavailable pods first.
        let minAvailable = replicas - maxUnavailable
        let newUnavailable = max(0, newReplicas - Self.available(current))
        var allowance = oldTotal + newReplicas - minAvailable - newUnavailable
        var remaining: [(JSONValue, Int64)] = oldRSes.map { ($0, Self.replicas($0)) }
        for i in remaining.indices where allowance > 0 {
            let unhealthy = max(0, remaining[i].1 - Self.available(remaining[i].0))
            let down = min(unhealthy, allowance)
            if down > 0 { remaining[i].1 -= down; allowance -= down }
        }
        let available = oldRSes.reduce(Self.available(current)) { $0 + Self.available($1) }
        var scaleDown = max(0, available - minAvailable)
        for i in remaining.indices where scaleDown > 0 {
            let down = min(remaining[i].1, scaleDown)
            remaining[i].1 -= down
            scaleDown -= down
        }
        for (rs, target) in remaining where target != Self.replicas(rs) {
            try scale(rs, to: target, client: client)
            changed = true
        }
        return changed
    }

    /// Recreate: every old pod gone before the new ReplicaSet scales up.
    func recreate(_ d: JSONValue, newRS: inout JSONValue?, oldRSes: [JSONValue], hash: String, maxRevision: Int64,
                  client: APIClient) throws -> Bool {
        let replicas = d["spec"]?["replicas"]?.intValue ?? 1
        var changed = false
        for rs in oldRSes where Self.replicas(rs) > 0 { try scale(rs, to: 0, client: client); changed = true }
        if changed || oldRSes.contains(where: { ($0["status"]?["replicas"]?.intValue ?? 0) > 0 }) { return changed }
        if newRS == nil {
            newRS = try createNewRS(d, hash: hash, replicas: replicas, revision: maxRevision + 1, client: client)
            return true
        }
        if let rs = newRS, Self.replicas(rs) != replicas { try scale(rs, to: replicas, client: client); return true }
        return false
    }

    /// Old ReplicaSets with nothing left, beyond revisionHistoryLimit (10), oldest first.
    func cleanup(_ d: JSONValue, oldRSes: [JSONValue], client: APIClient) throws {
        let limit = Int(d["spec"]?["revisionHistoryLimit"]?.intValue ?? 10)
        let idle = oldRSes.filter { Self.replicas($0) == 0 && ($0["status"]?["replicas"]?.intValue ?? 0) == 0 }
        guard idle.count > limit else { return }
        for rs in idle.prefix(idle.count - limit) {
            try client.send("DELETE", rsPath(rs["metadata"]?["namespace"]?.stringValue ?? "", rs["metadata"]?["name"]?.stringValue ?? ""), missingOK: true)
        }
    }

    func updateStatus(_ d: JSONValue, newRS: JSONValue?, all: [JSONValue], progressed: Bool, paused: Bool, client: APIClient) throws {
        let spec = d["spec"] ?? .null
        let replicas = spec["replicas"]?.intValue ?? 1
        let maxUnavailable = spec["strategy"]?["type"]?.stringValue == "Recreate" ? 0
            : Self.resolve(spec["strategy"]?["rollingUpdate"]?["maxUnavailable"], default: "25%", replicas: replicas, roundUp: false)
        var rses = all
        if let newRS, !rses.contains(where: { uid($0) == uid(newRS) }) { rses.append(newRS) }
        func sum(_ field: String) -> Int64 { rses.reduce(0) { $0 + ($1["status"]?[field]?.intValue ?? 0) } }
        let total = sum("replicas"), ready = sum("readyReplicas"), available = sum("availableReplicas")
        let updated = newRS?["status"]?["replicas"]?.intValue ?? 0
        let rsName = newRS?["metadata"]?["name"]?.stringValue ?? ""
        let old = d["status"] ?? .null
        let now = timestamp()
        func condition(_ type: String, _ ok: Bool, _ reason: String, _ message: String) -> JSONValue {
            let prior = (old["conditions"]?.arrayValue ?? []).first { $0["type"]?.stringValue == type }
            let same = prior?["status"]?.stringValue == (ok ? "True" : "False") && prior?["reason"]?.stringValue == reason
            return ["type": .string(type), "status": ok ? "True" : "False", "reason": .string(reason), "message": .string(message),
                    "lastUpdateTime": same && !progressed ? (prior?["lastUpdateTime"] ?? .string(now)) : .string(now),
                    "lastTransitionTime": prior?["status"]?.stringValue == (ok ? "True" : "False") ? (prior?["lastTransitionTime"] ?? .string(now)) : .string(now)]
        }
        let complete = updated == replicas && total == replicas && available == replicas && (newRS?["status"]?["observedGeneration"] != nil || replicas == 0)
        let deadline = Double(spec["progressDeadlineSeconds"]?.intValue ?? 600)
        let priorProgress = (old["conditions"]?.arrayValue ?? []).first { $0["type"]?.stringValue == "Progressing" }
        let lastProgress = priorProgress?["lastUpdateTime"]?.stringValue.flatMap(parseTime) ?? Date()
        let progressing: JSONValue
        if paused {
            progressing = condition("Progressing", true, "DeploymentPaused", "Deployment is paused")
        } else if complete {
            progressing = condition("Progressing", true, "NewReplicaSetAvailable", "ReplicaSet \"\(rsName)\" has successfully progressed.")
        } else if !progressed && Date().timeIntervalSince(lastProgress) > deadline {
            progressing = condition("Progressing", false, "ProgressDeadlineExceeded", "ReplicaSet \"\(rsName)\" has timed out progressing.")
        } else {
            progressing = condition("Progressing", true, "ReplicaSetUpdated", "ReplicaSet \"\(rsName)\" is progressing.")
        }
        let isAvailable = available >= replicas - maxUnavailable
        let availableCondition = condition("Available", isAvailable, isAvailable ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable",
                                           isAvailable ? "Deployment has minimum availability." : "Deployment does not have minimum availability.")
        var status = JSONObject()
        status["observedGeneration"] = d["metadata"]?["generation"] ?? .int(1)
        status["replicas"] = .int(total)
        status["updatedReplicas"] = .int(updated)
        status["readyReplicas"] = .int(ready)
        status["availableReplicas"] = .int(available)
        status["unavailableReplicas"] = .int(max(0, total - available))
        status["conditions"] = [availableCondition, progressing]
        if old != .object(status) {
            try client.send("PATCH", "/apis/apps/v1/namespaces/\(d["metadata"]?["namespace"]?.stringValue ?? "")/deployments/\(d["metadata"]?["name"]?.stringValue ?? "")/status",
                            ["status": .object(status)], contentType: "application/merge-patch+json", missingOK: true)
        }
        let revision = newRS.map(Self.revision).map(String.init)
        if let revision, d["metadata"]?["annotations"]?[Self.revisionAnnotation]?.stringValue != revision {
            try client.send("PATCH", "/apis/apps/v1/namespaces/\(d["metadata"]?["namespace"]?.stringValue ?? "")/deployments/\(d["metadata"]?["name"]?.stringValue ?? "")",
                            ["metadata": ["annotations": [Self.revisionAnnotation: .string(revision)]]], contentType: "application/merge-patch+json", missingOK: true)
        }
        if !complete && !paused { queue.addAfter(objectKey(d), min(deadline, 30)) }
    }
}
