// Subresources: */status (status-only writes), */scale (autoscaling/v1 Scale views of
// replicas), pods/binding (the scheduler's write), pods/eviction (Eviction.swift),
// pods/ephemeralcontainers (writes of spec.ephemeralContainers only),
// namespaces/finalize, serviceaccounts/token (TokenRequest.swift); pods/log is proxied to the node server (NodeProxy), pods/exec and
// attach tunnelled to it.
import API
import Auth
import Foundation
import Store

extension KubernetesAPI {
    func handleSubresource(_ request: HTTPRequest, _ rr: ResourceRequest, _ sub: String, user: UserInfo) async throws -> HTTPReply {
        guard let name = rr.name else { throw APIError(Status(code: 404, reason: "NotFound", message: "the server could not find the requested resource")) }
        let type = rr.type
        let dryRun = request.query["dryRun"] == "All"
        switch (sub, request.method) {
        case ("token", .POST) where type.kind == "ServiceAccount":
            return try await tokenRequest(request, namespace: rr.namespace ?? "", name: name, user: user)
        case ("status", .GET):
            let kv = try await storage.getRaw(type, namespace: rr.namespace, name: name)
            return JSONReply.bytes(ObjectCodec.render(kv.value, revision: kv.modRevision))
        case ("status", .PUT):
            let body = try parseBody(request)
            let updated = try await storage.guaranteedUpdate(type, namespace: rr.namespace, name: name, target: .status, dryRun: dryRun,
                                                             fields: .update(try fieldOwner(request, subresource: "status"))) { _ in body }
            return JSONReply.bytes(updated.object.serialized())
        case ("status", .PATCH):
            let updated = try await patch(request, rr, name: name, target: .status, dryRun: dryRun)
            return JSONReply.bytes(updated.object.serialized())

        case ("scale", .GET):
            let current = try await storage.get(type, namespace: rr.namespace, name: name)
            return JSONReply.bytes(scale(of: current.object, type: type).serialized())
        case ("scale", .PUT), ("scale", .PATCH):
            let body = try request.method == .PUT ? parseBody(request) : JSONValue.null
            let contentType = request.headers.first(name: "content-type")?.lowercased() ?? ""
            let patchBody = request.method == .PATCH ? try parsePatchBody(request) : JSONValue.null
            let owner = try fieldOwner(request, subresource: "scale")
            let updated = try await storage.guaranteedUpdate(type, namespace: rr.namespace, name: name, target: .scale, dryRun: dryRun,
                                                             fields: .update(owner)) { current in
                var s = scale(of: current, type: type)
                if request.method == .PUT { s = body } else if contentType.contains("json-patch") {
                    s = try Patch.jsonPatch(s, patchBody)
                } else {
                    s = Patch.mergePatch(s, patchBody)
                }
                guard let replicas = s["spec"]?["replicas"]?.intValue else {
                    throw APIError.invalid(type, name, [FieldError(.required, field: "spec.replicas", detail: "")])
                }
                if replicas < 0 {
                    throw APIError.invalid(type, name, [FieldError(.invalid, field: "spec.replicas", value: String(replicas), detail: "must be greater than or equal to 0")])
                }
                var o = current
                if let rv = s["metadata"]?["resourceVersion"]?.stringValue, request.method == .PUT { o["metadata"]?["resourceVersion"] = .string(rv) }
                else { o["metadata"]?["resourceVersion"] = nil }
                if let paths = type.custom?.scale, let path = FieldPath(paths.specReplicasPath) { path.set(.int(replicas), in: &o) }
                else { o["spec"]?["replicas"] = .int(replicas) }
                return o
            }
            return JSONReply.bytes(scale(of: updated.object, type: type).serialized())

        case ("binding", .POST):
            let body = try parseBody(request)
            guard let node = body["target"]?["name"]?.stringValue, !node.isEmpty else {
                throw APIError.invalid(type, name, [FieldError(.required, field: "target.name", detail: "")])
            }
            let uid = body["metadata"]?["uid"]?.stringValue
            if !dryRun { _ = try await storage.bind(type, namespace: rr.namespace, name: name, node: node, uid: uid) }
            return JSONReply.status(.success(code: 201))
        case ("ephemeralcontainers", .GET) where type.kind == "Pod":
            let kv = try await storage.getRaw(type, namespace: rr.namespace, name: name)
            return JSONReply.bytes(ObjectCodec.render(kv.value, revision: kv.modRevision))
        case ("ephemeralcontainers", .PUT) where type.kind == "Pod":
            let body = try parseBody(request)
            let updated = try await storage.guaranteedUpdate(type, namespace: rr.namespace, name: name, target: .ephemeralContainers, dryRun: dryRun,
                                                             fields: .update(try fieldOwner(request, subresource: "ephemeralcontainers"))) { _ in body }
            return JSONReply.bytes(updated.object.serialized())
        case ("ephemeralcontainers", .PATCH) where type.kind == "Pod":
            let updated = try await patch(request, rr, name: name, target: .ephemeralContainers, dryRun: dryRun)
            return JSONReply.bytes(updated.object.serialized())
        case ("eviction", .POST) where type.kind == "Pod":
            return try await evict(request, namespace: rr.namespace ?? "default", name: name)

        case ("finalize", .PUT):
            let body = try parseBody(request)
            let updated = try await storage.guaranteedUpdate(type, namespace: nil, name: name, target: .status) { current in
                var o = current
                o["spec"]?["finalizers"] = body["spec"]?["finalizers"] ?? .array([])
                return o
            }
            return JSONReply.bytes(updated.object.serialized())

        case ("log", .GET) where type.plural == "pods":
            return try await proxyLog(request, namespace: rr.namespace ?? "default", pod: name)
        case ("exec", .GET), ("exec", .POST), ("attach", .GET), ("attach", .POST), ("portforward", .GET), ("portforward", .POST):
            // Upgrades arrive on a connection of their own and are tunnelled before they get here.
            throw APIError.badRequest("pods/\(sub) needs a connection upgrade (websocket) as the first request on its connection")
        default:
            throw APIError.methodNotAllowed("the server does not allow this method on the requested resource")
        }
    }

    func parsePatchBody(_ request: HTTPRequest) throws -> JSONValue {
        if request.body.isEmpty { throw APIError.badRequest("the patch body is empty") }
        do { return try JSONValue.parse(request.body) } catch { throw APIError.badRequest("the patch is not valid JSON: \(error)") }
    }

    /// The autoscaling/v1 Scale view of a workload.
    func scale(of o: JSONValue, type: ResourceType) -> JSONValue {
        if let paths = type.custom?.scale { return Self.customScale(of: o, paths) }
        let meta = o["metadata"] ?? .null
        var selector = ""
        if type.kind == "ReplicationController" {
            selector = Tables.selectorString(o["spec"]?["selector"]?.stringMap)
        } else if let sel = try? labelSelector(from: o["spec"]?["selector"]) {
            selector = sel.description
        }
        return ["kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": ["name": meta["name"] ?? "", "namespace": meta["namespace"] ?? "", "uid": meta["uid"] ?? "",
                             "resourceVersion": meta["resourceVersion"] ?? "", "creationTimestamp": meta["creationTimestamp"] ?? .null],
                "spec": ["replicas": .int(o["spec"]?["replicas"]?.intValue ?? 0)],
                "status": ["replicas": .int(o["status"]?["replicas"]?.intValue ?? 0), "selector": .string(selector)]]
    }

    /// A custom resource's Scale, read through its CRD's paths (a missing path reads as 0 / no selector).
    static func customScale(of o: JSONValue, _ paths: ScalePaths) -> JSONValue {
        let meta = o["metadata"] ?? .null
        func replicas(_ path: String) -> Int64 { FieldPath(path)?.first(in: o)?.intValue ?? 0 }
        var status: JSONValue = ["replicas": .int(replicas(paths.statusReplicasPath))]
        if let path = paths.labelSelectorPath, let selector = FieldPath(path)?.first(in: o)?.stringValue { status["selector"] = .string(selector) }
        return ["kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": ["name": meta["name"] ?? "", "namespace": meta["namespace"] ?? .null, "uid": meta["uid"] ?? "",
                             "resourceVersion": meta["resourceVersion"] ?? "", "creationTimestamp": meta["creationTimestamp"] ?? .null],
                "spec": ["replicas": .int(replicas(paths.specReplicasPath))], "status": status]
    }
}

extension ResourceStorage {
    /// Sets a pod's node and its PodScheduled condition (the binding subresource's write).
    func bind(_ type: ResourceType, namespace: String?, name: String, node: String, uid: String?) async throws -> StoredObject {
        let key = Self.key(type, namespace: namespace, name: name)
        for _ in 0..<16 {
            guard let kv = try await store.get(key) else { throw APIError.notFound(type, name) }
            var pod = ObjectCodec.decode(kv.value, revision: kv.modRevision)
            if let uid, uid != pod["metadata"]?["uid"]?.stringValue {
                throw APIError(Status(code: 409, reason: "Conflict", message: "Operation cannot be fulfilled on pods/binding \"\(name)\": precondition failed: uid does not match"))
            }
            if pod["metadata"]?["deletionTimestamp"] != nil {
                throw APIError(Status(code: 409, reason: "Conflict", message: "Operation cannot be fulfilled on pods/binding \"\(name)\": pod \(name) is being deleted, cannot be assigned to a host"))
            }
            if let existing = pod["spec"]?["nodeName"]?.stringValue, !existing.isEmpty {
                throw APIError(Status(code: 409, reason: "Conflict", message: "Operation cannot be fulfilled on pods/binding \"\(name)\": pod \(name) is already assigned to node \"\(existing)\""))
            }
            pod["spec"]?["nodeName"] = .string(node)
            var conditions = (pod["status"]?["conditions"]?.arrayValue ?? []).filter { $0["type"]?.stringValue != "PodScheduled" }
            conditions.append(["type": "PodScheduled", "status": "True", "lastProbeTime": .null,
                               "lastTransitionTime": .string(ObjectCodec.timestamp())])
            pod["status"]?["conditions"] = .array(conditions)
            do {
                let rev = try await store.update(key, value: ObjectCodec.encodeForStorage(pod), expectedModRevision: kv.modRevision)
                pod["metadata"]?["resourceVersion"] = .string(String(rev))
                return StoredObject(object: pod, revision: rev)
            } catch let e as StoreError where isConflict(e) { continue }
        }
        throw APIError(.conflict(group: "", resource: "pods", name: name))
    }
}
