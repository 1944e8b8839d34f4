// Server-side apply (PATCH with application/apply-patch+yaml) and the field manager every write
// is recorded under. The merge, ownership and conflict rules are API.FieldManager's; this file
// reads the request (fieldManager, force, the YAML configuration), checks that the configuration
// names the object of the URL, and applies it to the live object — or creates it (201).
import API
import YAML

extension ResourceStorage.UpdateTarget {
    /// The subresource managedFields entries name for a write through this target.
    var subresource: String? {
        switch self {
        case .main: return nil
        case .status: return "status"
        case .scale: return "scale"
        case .ephemeralContainers: return "ephemeralcontainers"
        }
    }
}

extension KubernetesAPI {
    /// The fieldManager a write is recorded under: the query parameter, else the client's
    /// User-Agent up to its first "/" (kubectl/v1.33.0 … → kubectl), as kube-apiserver does.
    func fieldOwner(_ request: HTTPRequest, subresource: String? = nil) throws -> ResourceStorage.FieldOwner {
        if let given = request.query["fieldManager"], !given.isEmpty {
            try Self.checkFieldManager(given)
            return ResourceStorage.FieldOwner(manager: given, subresource: subresource)
        }
        let agent = request.headers.first(name: "user-agent") ?? ""
        let prefix = agent.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        return ResourceStorage.FieldOwner(manager: String(prefix.prefix(128)), subresource: subresource)
    }

    static func checkFieldManager(_ name: String) throws {
        if name.utf8.count > 128 {
            throw patchOptionsInvalid(FieldError(.tooLong, field: "fieldManager", detail: "must have at most 128 bytes"))
        }
    }

    static func patchOptionsInvalid(_ error: FieldError) -> APIError {
        APIError(.invalid(group: "meta.k8s.io", kind: "PatchOptions", name: "", errors: [error]))
    }

    func serverSideApply(_ request: HTTPRequest, _ rr: ResourceRequest, name: String, target: ResourceStorage.UpdateTarget,
                         dryRun: Bool, view: ResourceType?) async throws -> StoredObject {
        guard let manager = request.query["fieldManager"], !manager.isEmpty else {
            throw Self.patchOptionsInvalid(FieldError(.required, field: "fieldManager", detail: "is required for apply patch"))
        }
        try Self.checkFieldManager(manager)
        let force: Bool
        switch request.query["force"] {
        case nil, "false": force = false
        case "true": force = true
        case let other?: throw APIError.badRequest("invalid value for force: \"\(other)\" (true or false)")
        }
        let shown = view ?? rr.type
        var config = try applyConfiguration(request, type: shown, name: name, namespace: rr.namespace)
        if view != nil { config = VersionConversion.toStorage(config, from: shown) }
        let strategy = rr.type.strategy
        let writer = FieldWriter(manager: manager, apiVersion: shown.groupVersion, subresource: target.subresource,
                                 kindHasStatus: strategy.hasStatus, types: .of(rr.type), now: ObjectCodec.timestamp())
        let applyTo: (JSONValue?) throws -> JSONValue = { live in
            var unpinned = live
            unpinned?["metadata"]?["resourceVersion"] = nil   // only the configuration may pin a version
            do { return try FieldManager.apply(live: unpinned, config: config, writer: writer, force: force) }
            catch let e as ApplyConflicts {
                throw APIError(Status(code: 409, reason: "Conflict", message: e.message,
                                      details: Status.Details(causes: e.causes)))
            } catch let e as FieldSetError {
                throw APIError(.invalid(group: rr.type.group, kind: rr.type.kind, name: name,
                                        errors: [FieldError(.invalid, field: e.path.hasPrefix(".") ? String(e.path.dropFirst()) : e.path,
                                                            detail: e.message)]))
            }
        }
        do {
            return try await storage.guaranteedUpdate(rr.type, namespace: rr.namespace, name: name, target: target, dryRun: dryRun,
                                                      fields: .applied) { stored in try applyTo(stored) }
        } catch let e as APIError where e.status.code == 404 && target == .main {
            var created = try await storage.create(rr.type, namespace: rr.namespace, body: try applyTo(nil), dryRun: dryRun,
                                                   fields: .applied)
            created.created = true
            return created
        }
    }

    /// The configuration an apply sends: one YAML (or JSON) object of the URL's kind and name.
    func applyConfiguration(_ request: HTTPRequest, type: ResourceType, name: String, namespace: String?) throws -> JSONValue {
        if request.body.isEmpty { throw APIError.badRequest("the apply configuration is empty") }
        let docs: [JSONValue]
        // kubectl and the client libraries send JSON (which is YAML): parse it as such, it is much faster.
        if let first = request.body.first(where: { $0 != 0x20 && $0 != 0x0a && $0 != 0x0d && $0 != 0x09 }), first == UInt8(ascii: "{"),
           let json = try? JSONValue.parse(request.body) {
            docs = [json]
        } else {
            do { docs = try YAMLDocuments.parse(String(decoding: request.body, as: UTF8.self)) }
            catch { throw APIError.badRequest("error decoding YAML: \(error)") }
        }
        guard docs.count == 1, var config = docs.first, config.objectValue != nil else {
            throw APIError.badRequest("the apply configuration must be exactly one YAML object")
        }
        guard let apiVersion = config["apiVersion"]?.stringValue, !apiVersion.isEmpty else {
            throw APIError.badRequest("apiVersion must be set in the apply configuration")
        }
        guard let kind = config["kind"]?.stringValue, !kind.isEmpty else {
            throw APIError.badRequest("kind must be set in the apply configuration")
        }
        if apiVersion != type.groupVersion || kind != type.kind {
            throw APIError.badRequest("the apply configuration is a \(kind) of \(apiVersion), but the URL is for a \(type.kind) of \(type.groupVersion)")
        }
        if config["metadata"]?.objectValue == nil { config["metadata"] = .object(JSONObject()) }
        if let given = config["metadata"]?["name"]?.stringValue, given != name {
            throw APIError.badRequest("the name of the object (\(given)) does not match the name on the URL (\(name))")
        }
        config["metadata"]?["name"] = .string(name)
        if let ns = namespace, let given = config["metadata"]?["namespace"]?.stringValue, !given.isEmpty, given != ns {
            throw APIError.badRequest("the namespace of the provided object does not match the namespace sent on the request")
        }
        if config["metadata"]?["managedFields"] != nil {
            throw APIError.badRequest("metadata.managedFields must be nil")
        }
        return config
    }
}
