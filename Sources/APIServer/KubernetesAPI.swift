// The Kubernetes REST API: routes each request to discovery, a resource verb or a subresource,
// and answers with the object, a list, a Table (kubectl get), a watch stream or a Status.
import API
import Foundation
import MetricsPipeline
import NIOHTTP1
import Auth
import Store
import Synchronization
import Telemetry
import YAML

public final class KubernetesAPI: HTTPHandler {
    let storage: ResourceStorage
    /// The master's series (this server's, and the store's, controllers' and scheduler's when they share `registry`).
    let metrics: Metrics
    /// host:port clients reach the API on (discovery and the `kubernetes` service); set by bootstrap.
    let advertised = Mutex("127.0.0.1:6443")
    var serverAddress: String { advertised.withLock { $0 } }
    let namespaces: NamespaceController
    /// The CustomResourceDefinitions' resources, followed as the definitions change.
    let customResources: CustomResourceCatalog
    /// Mutating requests are recorded here when set (`--audit-log-path`).
    let audit: AuditLog?
    /// Authentication and authorization (nil: the plain-HTTP loopback mode, where every caller is admin).
    let access: AccessControl?
    /// The cluster CA (secure mode): it signs joining nodes' credentials.
    let ca: ClusterCA?
    /// Signs TokenRequests (secure mode).
    let serviceAccountTokens: ServiceAccountTokens?
    /// TLS to node servers (secure mode): the cluster CA and the API server's kubelet-client certificate.
    let nodeTLS: NodeClientTLS?

    /// What metrics.k8s.io serves from, once the pipeline runs (503 until then, as with metrics-server away).
    let metricsSource = Mutex<(any ResourceMetricsSource)?>(nil)

    /// Bootstrap makes the `local-path` StorageClass (the built-in provisioner's) when it is missing.
    let createsDefaultStorageClass: Bool

    /// `serviceCIDR` and `nodePorts`: the ranges Services' cluster IPs and node ports come from.
    public init(store: any KeyValueStore, serviceCIDR: String = "10.96.0.0/12", nodePorts: ClosedRange<Int64> = 30000...32767,
                audit: AuditLog? = nil, tokens: TokenAuthenticator? = nil, ca: ClusterCA? = nil, nodeTLS: NodeClientTLS? = nil,
                serviceAccountTokens: ServiceAccountTokens? = nil, defaultStorageClass: Bool = true,
                metrics registry: MetricsRegistry = MetricsRegistry()) {
        metrics = Metrics(registry: registry)
        self.serviceAccountTokens = serviceAccountTokens
        createsDefaultStorageClass = defaultStorageClass
        self.audit = audit
        self.ca = ca
        self.nodeTLS = nodeTLS
        let storage = ResourceStorage(store: store, serviceCIDR: serviceCIDR, nodePorts: nodePorts,
                                      mountsServiceAccountTokens: serviceAccountTokens != nil)
        self.storage = storage
        access = tokens.map { AccessControl(tokens: $0, serviceAccounts: serviceAccountTokens, storage: storage) }
        customResources = CustomResourceCatalog(storage: storage)
        namespaces = NamespaceController(storage: storage, customResources: customResources)
    }

    var store: any KeyValueStore { storage.store }

    public var tunnel: (@Sendable (TunnelRequest) async -> Result<NodeTarget, Status>)? {
        { [self] request in await tunnelTarget(request) }
    }

    /// Creates the built-in namespaces and the `kubernetes` service; resumes namespace cleanups.
    public func bootstrap(serverAddress: String) async throws {
        advertised.withLock { $0 = serverAddress }
        let nsType = ResourceRegistry.lookup(groupVersion: "v1", plural: "namespaces")!
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            do { _ = try await storage.create(nsType, namespace: nil, body: ["metadata": ["name": .string(ns)]]) }
            catch let e as APIError where e.status.code == 409 {}
        }
        // The `kubernetes` Service at the range's first address, its endpoints following this master.
        let (host, port) = splitHostPort(serverAddress)
        do {
            try await publishMasterService(namespace: "default", name: "kubernetes", clusterIP: storage.services.firstIP,
                                           labels: ["component": "apiserver", "provider": "kubernetes"],
                                           ports: [MasterServicePort(name: "https", port: 443, targetPort: Int64(port))], address: host)
        } catch let e as APIError where e.status.code == 422 {}   // (the first address is taken: a changed --service-cidr)
        // The default roles and bindings (cluster-admin for system:masters, admin/edit/view, discovery).
        if access != nil {
            for (plural, objects) in [("clusterroles", BootstrapPolicy.clusterRoles), ("clusterrolebindings", BootstrapPolicy.clusterRoleBindings)] {
                let type = ResourceRegistry.lookup(groupVersion: "rbac.authorization.k8s.io/v1", plural: plural)!
                for o in objects {
                    do { _ = try await storage.create(type, namespace: nil, body: o) } catch let e as APIError where e.status.code == 409 {}
                }
            }
        }
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] { await ensureDefaultServiceAccount(ns) }
        if createsDefaultStorageClass { await storage.ensureDefaultStorageClass() }
        await storage.ensureSystemPriorityClasses()
        await ensureMetricsAPIService()
        await namespaces.resume()
        customResources.follow()
    }

    func ensureDefaultServiceAccount(_ namespace: String) async { await storage.ensureDefaultServiceAccount(namespace) }

    func splitHostPort(_ address: String) -> (String, Int) {
        guard let colon = address.lastIndex(of: ":") else { return (address, 6443) }
        return (String(address[..<colon]), Int(address[address.index(after: colon)...]) ?? 6443)
    }

    // MARK: dispatch

    public func handle(_ request: HTTPRequest) async -> HTTPReply {
        let start = DispatchTime.now().uptimeNanoseconds
        let received = Date()
        var verb = request.method.rawValue
        var routed: ResourceRequest?
        var user = UserInfo(name: "system:admin", groups: ["system:masters", "system:authenticated"])
        let reply: HTTPReply
        do {
            let route = RequestInfo.route(request.path, served: customResources.served)
            if case .resource(let rr) = route {
                verb = Self.verb(request, rr)
                routed = rr
            }
            if let access {
                user = try await access.authenticate(authorization: request.headers.first(name: "Authorization"), clientCertificate: request.clientCertificate)
                try await access.authorize(AccessControl.attributes(request, user: user, route: routed, verb: verb))
            }
            if request.bodyTooLarge {
                throw APIError(Status(code: 413, reason: "RequestEntityTooLarge",
                                      message: "Request entity too large: limit is \(HTTPServer.maxBodyBytes)"))
            }
            if let rr = routed {
                reply = try await handleResource(request, rr, user: user)
                // A role or binding changed: the next check reads them again (after the write, so no stale reload sticks).
                if rr.type.group == "rbac.authorization.k8s.io" && request.method != .GET { access?.invalidate() }
                // A definition changed: what is served changes with it before the reply goes out.
                if rr.type == CustomResourceCatalog.definitionType && request.method != .GET { await customResources.reload() }
            } else {
                reply = try await handleNonResource(request)
            }
        } catch let e as APIError {
            reply = JSONReply.status(e.status)
        } catch let e as StoreError {
            reply = JSONReply.status(APIError.internalError(e.message).status)
        } catch {
            reply = JSONReply.status(APIError.internalError(String(describing: error)).status)
        }
        if case .full(let status, _, _) = reply {
            let nanoseconds = Int64(DispatchTime.now().uptimeNanoseconds - start)
            metrics.record(routed, verb: verb, dryRun: request.query["dryRun"] == "All", code: Int(status.code), nanoseconds: nanoseconds)
            if let audit, let routed {
                audit.record(request, routed, verb: verb, user: (user.name, user.groups), code: Int(status.code), received: received)
            }
        }
        return reply
    }

    static func verb(_ request: HTTPRequest, _ rr: ResourceRequest) -> String {
        switch request.method {
        case .GET: return rr.name == nil ? (request.query["watch"].map { $0 == "true" || $0 == "1" } == true ? "WATCH" : "LIST") : "GET"
        case .POST: return "POST"
        case .PUT: return "PUT"
        case .PATCH: return "PATCH"
        case .DELETE: return rr.name == nil ? "DELETECOLLECTION" : "DELETE"
        default: return request.method.rawValue
        }
    }

    func handleNonResource(_ request: HTTPRequest) async throws -> HTTPReply {
        if let ca, request.path == NodeJoin.caPath, request.method == .GET {
            return .full(status: .ok, contentType: "application/x-pem-file", body: Array(ca.certificatePEM.utf8))
        }
        if let ca, request.path == NodeJoin.credentialsPath, request.method == .POST {
            // (Authorization already required system:bootstrappers: the join token.)
            let body = try JSONValue.parse(request.body)
            let name = body["nodeName"]?.stringValue ?? ""
            let addresses = (body["addresses"]?.arrayValue ?? []).compactMap(\.stringValue)
            do {
                let issued = try NodeJoin.credentials(ca: ca, nodeName: name, addresses: addresses)
                return JSONReply.bytes(JSONValue.object(JSONObject(issued.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.string($0.value)) })).serialized())
            } catch {
                throw APIError.badRequest("\(error)")
            }
        }
        guard request.method == .GET || request.method == .HEAD else {
            throw APIError.methodNotAllowed("the server does not allow this method on the requested resource")
        }
        let served = customResources.served
        switch RequestInfo.route(request.path, served: served) {
        case .root:
            let paths: [JSONValue] = ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/metrics", "/openapi/v2", "/openapi/v3", "/readyz", "/version"]
                + served.groupVersions.filter { $0.contains("/") }.map { .string("/apis/" + $0) }
            return JSONReply.bytes(JSONValue.object(JSONObject([("paths", .array(paths))])).serialized())
        case .version: return JSONReply.bytes(Discovery.version.serialized())
        case .healthz:
            _ = try await store.currentRevision()
            return .full(status: .ok, contentType: "text/plain; charset=utf-8", body: Array("ok".utf8))
        case .metrics:
            let text = metrics.render(storeRevision: (try? await store.currentRevision()) ?? 0)
            return .full(status: .ok, contentType: MetricsRegistry.contentType, body: text)
        case .coreVersions: return rootDiscovery(request, core: true, served: served)
        case .groups: return rootDiscovery(request, core: false, served: served)
        case .group(let g): return JSONReply.bytes(Discovery.groupJSON(g, served: served).serialized())
        case .resourceList(let gv): return JSONReply.bytes(Discovery.resourceList(gv, served: served).serialized())
        case .openAPIV2:
            if request.headers.first(name: "accept")?.contains("application/json") == true {
                return JSONReply.bytes(Discovery.openAPIV2(served: served).serialized())
            }
            return .full(status: .ok, contentType: "application/com.github.proto-openapi.spec.v2.v1.0+protobuf", body: [])
        case .openAPIV3Root: return JSONReply.bytes(Discovery.openAPIV3Root(served: served).serialized())
        case .openAPIV3(let key):
            guard let doc = Discovery.openAPIV3(key, served: served) else { throw APIError(Status(code: 404, reason: "NotFound", message: "the server could not find the requested resource")) }
            return JSONReply.bytes(doc.body)
        default:
            throw APIError(Status(code: 404, reason: "NotFound", message: "the server could not find the requested resource"))
        }
    }

    // MARK: resources

    func handleResource(_ request: HTTPRequest, _ rr: ResourceRequest, user: UserInfo) async throws -> HTTPReply {
        let type = rr.type
        if type.namespaced, rr.namespace == nil, rr.name != nil {
            throw APIError(Status(code: 404, reason: "NotFound", message: "the server could not find the requested resource"))
        }
        if type.isResourceMetrics { return try await handleResourceMetrics(request, rr) }
        if type.isReview { return try await handleReview(request, rr, user: user) }
        let storageType = ResourceRegistry.storageType(of: type)
        if storageType != type { return try await handleConverted(request, rr, storageType: storageType, user: user) }
        if let sub = rr.subresource { return try await handleSubresource(request, rr, sub, user: user) }
        let dryRun = request.query["dryRun"] == "All"
        switch (request.method, rr.name) {
        case (.GET, nil):
            if let w = request.query["watch"], w == "true" || w == "1" { return try await watch(request, rr) }
            return try await list(request, rr)
        case (.GET, let name?):
            let kv = try await storage.getRaw(type, namespace: rr.namespace, name: name)
            if wantsTable(request) {
                let obj = ObjectCodec.decode(kv.value, revision: kv.modRevision)
                return JSONReply.bytes(Tables.table([obj], kind: type.kind, custom: type.custom, resourceVersion: String(kv.modRevision), continueToken: nil,
                                                    includeObject: request.query["includeObject"] ?? "Metadata").serialized())
            }
            return JSONReply.bytes(ObjectCodec.render(kv.value, revision: kv.modRevision))
        case (.POST, nil):
            let body = try parseBody(request)
            try refuseUnknownFields(request, type, body)
            if type.custom?.terminating == true {
                throw APIError.methodNotAllowed("create not allowed while custom resource definition is terminating")
            }
            if type.namespaced && rr.namespace == nil {
                throw APIError.methodNotAllowed("the server does not allow this method on the requested resource")
            }
            let created = try await storage.create(type, namespace: rr.namespace, body: body, dryRun: dryRun,
                                                   fields: .update(try fieldOwner(request)))
            if type.kind == "Namespace" && !dryRun, let ns = created.object.value(at: "metadata.name")?.stringValue {
                await ensureDefaultServiceAccount(ns)
            }
            return JSONReply.bytes(created.object.serialized(), code: 201)
        case (.PUT, let name?):
            let body = try parseBody(request)
            try refuseUnknownFields(request, type, body)
            let updated = try await storage.guaranteedUpdate(type, namespace: rr.namespace, name: name, dryRun: dryRun,
                                                             fields: .update(try fieldOwner(request))) { _ in
                var b = body
                if type.namespaced, let ns = rr.namespace {
                    if let given = b["metadata"]?["namespace"]?.stringValue, !given.isEmpty, given != ns {
                        throw APIError.badRequest("the namespace of the provided object does not match the namespace sent on the request")
                    }
                    b["metadata"]?["namespace"] = .string(ns)
                }
                return b
            }
            return JSONReply.bytes(updated.object.serialized())
        case (.PATCH, let name?):
            let updated = try await patch(request, rr, name: name, target: .main, dryRun: dryRun)
            return JSONReply.bytes(updated.object.serialized(), code: updated.created ? 201 : 200)
        case (.DELETE, let name?):
            var options = try deleteOptions(request)
            options.dryRun = dryRun
            let (result, gone) = try await storage.delete(type, namespace: rr.namespace, name: name, options: options)
            if type.kind == "Namespace" && !gone { namespaces.finalize(name) }
            return JSONReply.bytes(result.object.serialized())
        case (.DELETE, nil):
            return try await deleteCollection(request, rr)
        default:
            throw APIError.methodNotAllowed("the server does not allow this method on the requested resource")
        }
    }

    func parseBody(_ request: HTTPRequest) throws -> JSONValue {
        let contentType = request.headers.first(name: "content-type")?.lowercased() ?? "application/json"
        if request.body.isEmpty { throw APIError.badRequest("the request body is empty") }
        if contentType.hasPrefix("application/vnd.kubernetes.protobuf") {
            do { return try ProtobufDecoder.decodeObject(request.body) }
            catch { throw APIError(Status(code: 415, reason: "UnsupportedMediaType", message: "\(error)")) }
        }
        if contentType.hasPrefix("application/yaml") {
            let docs: [JSONValue]
            do { docs = try YAMLDocuments.parse(String(decoding: request.body, as: UTF8.self)) }
            catch { throw APIError.badRequest("the request body is not valid YAML: \(error)") }
            guard docs.count == 1, let doc = docs.first else { throw APIError.badRequest("the request body must hold exactly one YAML document") }
            return doc
        }
        if contentType.contains("yaml") || contentType.contains("protobuf") {
            throw APIError(Status(code: 415, reason: "UnsupportedMediaType",
                                  message: "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf"))
        }
        do { return try JSONValue.parse(request.body) }
        catch { throw APIError.badRequest("the request body is not valid JSON: \(error)") }
    }

    func wantsTable(_ request: HTTPRequest) -> Bool {
        request.headers.first(name: "accept")?.contains("as=Table") ?? false
    }

    func deleteOptions(_ request: HTTPRequest) throws -> ResourceStorage.DeleteOptions {
        var options = ResourceStorage.DeleteOptions()
        if let g = request.query["gracePeriodSeconds"], let n = Int64(g) { options.gracePeriodSeconds = n }
        options.propagationPolicy = request.query["propagationPolicy"]
        if !request.body.isEmpty { options.merge(DeleteOptions(json: try parseBody(request))) }
        try options.checkPropagation()
        return options
    }

    // MARK: list

    struct Filter {
        var labels = LabelSelector.everything
        var fields = FieldSelector.everything
        var strategy: ResourceStrategy

        var isEverything: Bool { labels.requirements.isEmpty && fields.requirements.isEmpty }

        func matches(_ o: JSONValue) -> Bool {
            if !labels.requirements.isEmpty, !labels.matches(o["metadata"]?["labels"]?.stringMap ?? [:]) { return false }
            if !fields.requirements.isEmpty, !fields.matches(strategy.fields(of: o)) { return false }
            return true
        }
    }

    func filter(_ request: HTTPRequest, _ type: ResourceType) throws -> Filter {
        var f = Filter(strategy: type.strategy)
        do {
            if let l = request.query["labelSelector"], !l.isEmpty { f.labels = try LabelSelector(parsing: l) }
            if let fs = request.query["fieldSelector"], !fs.isEmpty {
                f.fields = try FieldSelector(parsing: fs, supported: f.strategy.allSelectableFieldNames)
            }
        } catch let e as FieldError {
            throw APIError.badRequest("unable to parse requirement: \(e)")
        }
        return f
    }

    func list(_ request: HTTPRequest, _ rr: ResourceRequest) async throws -> HTTPReply {
        let type = rr.type
        let filter = try filter(request, type)
        let limit = request.query["limit"].flatMap { Int($0) }.flatMap { $0 > 0 ? $0 : nil }
        var revision: Int64?
        var after: String?
        if let token = request.query["continue"], !token.isEmpty {
            guard let t = ObjectCodec.parseContinueToken(token) else { throw APIError.badRequest("continue key is not valid: \(token)") }
            revision = t.revision
            after = t.after
        } else if let rv = request.query["resourceVersion"], !rv.isEmpty, rv != "0", request.query["resourceVersionMatch"] == "Exact" {
            guard let n = Int64(rv) else { throw APIError.badRequest("invalid resourceVersion \(rv)") }
            revision = n
        }
        let prefix = ResourceStorage.listPrefix(type, namespace: rr.namespace)
        // Page through the store until `limit` matches are found (selectors may skip items).
        var matched: [(KeyValue, JSONValue?)] = []
        var listRevision: Int64 = 0
        var more = false
        var lastKey = after
        repeat {
            let want = limit.map { max($0 - matched.count, 1) + (filter.isEverything ? 0 : 64) }
            let page: ListResult
            do { page = try await store.list(prefix: prefix, limit: want, continueAfter: lastKey, revision: revision) }
            catch let e as StoreError {
                if case .compacted = e.code {
                    throw APIError(Status(code: 410, reason: "Expired",
                                          message: "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results."))
                }
                throw e
            }
            listRevision = page.revision
            revision = page.revision
            more = page.more
            for kv in page.items {
                if let limit, matched.count >= limit { more = true; break }
                lastKey = kv.key
                if filter.isEverything { matched.append((kv, nil)); continue }
                let obj = ObjectCodec.decode(kv.value, revision: kv.modRevision)
                if filter.matches(obj) { matched.append((kv, obj)) }
            }
            if let limit, matched.count >= limit { break }
        } while more
        let token = (more && limit != nil) ? matched.last.map { ObjectCodec.continueToken(revision: listRevision, after: $0.0.key) } : nil
        if wantsTable(request) {
            let objects = matched.map { $0.1 ?? ObjectCodec.decode($0.0.value, revision: $0.0.modRevision) }
            return JSONReply.bytes(Tables.table(objects, kind: type.kind, custom: type.custom, resourceVersion: String(listRevision), continueToken: token,
                                                includeObject: request.query["includeObject"] ?? "Metadata").serialized())
        }
        var out: [UInt8] = []
        out.reserveCapacity(matched.reduce(128) { $0 + $1.0.value.count + 32 })
        out.append(contentsOf: #"{"kind":""#.utf8)
        out.append(contentsOf: (type.kind + "List").utf8)
        out.append(contentsOf: #"","apiVersion":""#.utf8)
        out.append(contentsOf: type.groupVersion.utf8)
        out.append(contentsOf: #"","metadata":{"resourceVersion":""#.utf8)
        out.append(contentsOf: String(listRevision).utf8)
        out.append(UInt8(ascii: "\""))
        if let token {
            out.append(contentsOf: #","continue":"#.utf8)
            JSONValue.writeString(token, to: &out)
        }
        out.append(contentsOf: #"},"items":["#.utf8)
        for (i, m) in matched.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            ObjectCodec.render(m.0.value, revision: m.0.modRevision, into: &out)
        }
        out.append(contentsOf: "]}".utf8)
        return JSONReply.bytes(out)
    }

    func deleteCollection(_ request: HTTPRequest, _ rr: ResourceRequest) async throws -> HTTPReply {
        let filter = try filter(request, rr.type)
        var options = try deleteOptions(request)
        options.dryRun = request.query["dryRun"] == "All"
        var deleted: [JSONValue] = []
        for obj in try await storage.list(rr.type, namespace: rr.namespace) {
            guard filter.matches(obj), let name = obj["metadata"]?["name"]?.stringValue else { continue }
            let ns = obj["metadata"]?["namespace"]?.stringValue
            if let (result, _) = try? await storage.delete(rr.type, namespace: ns, name: name, options: options) { deleted.append(result.object) }
        }
        let listJSON: JSONValue = ["kind": .string(rr.type.kind + "List"), "apiVersion": .string(rr.type.groupVersion),
                                   "metadata": ["resourceVersion": .string(String(try await store.currentRevision()))], "items": .array(deleted)]
        return JSONReply.bytes(listJSON.serialized())
    }

    // MARK: patch

    /// Applies a PATCH; with `view`, to the object as that version shows it (ConvertedRequests.swift).
    func patch(_ request: HTTPRequest, _ rr: ResourceRequest, name: String, target: ResourceStorage.UpdateTarget,
               dryRun: Bool, view: ResourceType? = nil) async throws -> StoredObject {
        let contentType = request.headers.first(name: "content-type")?.lowercased() ?? ""
        if contentType.contains("apply-patch") {
            return try await serverSideApply(request, rr, name: name, target: target, dryRun: dryRun, view: view)
        }
        if request.query["force"] != nil {
            throw APIError(.invalid(group: "meta.k8s.io", kind: "PatchOptions", name: "",
                                    errors: [FieldError(.forbidden, field: "force", detail: "may not be specified for non-apply patch")]))
        }
        if request.body.isEmpty { throw APIError.badRequest("the patch body is empty") }
        let patch: JSONValue
        do { patch = try JSONValue.parse(request.body) } catch { throw APIError.badRequest("the patch is not valid JSON: \(error)") }
        let kind = rr.type.kind
        let owner = try fieldOwner(request, subresource: target.subresource)
        return try await storage.guaranteedUpdate(rr.type, namespace: rr.namespace, name: name, target: target, dryRun: dryRun,
                                                  fields: .update(owner)) { stored in
            guard let view else { return try Self.applyPatch(patch, to: stored, contentType: contentType, kind: kind) }
            let patched = try Self.applyPatch(patch, to: VersionConversion.fromStorage(stored, to: view), contentType: contentType, kind: kind)
            return VersionConversion.toStorage(patched, from: view)
        }
    }

    static func applyPatch(_ patch: JSONValue, to current: JSONValue, contentType: String, kind: String) throws -> JSONValue {
        var base = current
        base["metadata"]?["resourceVersion"] = nil   // a patch pins a version only if it names one
        do {
            if contentType.contains("json-patch") {
                var b = current
                b = try Patch.jsonPatch(b, patch)
                if b["metadata"]?["resourceVersion"] == current["metadata"]?["resourceVersion"] { b["metadata"]?["resourceVersion"] = nil }
                return b
            } else if contentType.contains("strategic-merge-patch") {
                guard case .object = patch else { throw PatchError("a strategic merge patch must be a JSON object") }
                return try Patch.strategicMergePatch(base, patch, kind: kind)
            } else if contentType.contains("merge-patch") {
                guard case .object = patch else { throw PatchError("a merge patch must be a JSON object") }
                return Patch.mergePatch(base, patch)
            }
        } catch let e as PatchError {
            throw APIError(Status(code: 422, reason: "Invalid", message: "the patch could not be applied: \(e.message)"))
        }
        throw APIError(Status(code: 415, reason: "UnsupportedMediaType",
                              message: "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json"))
    }
}
