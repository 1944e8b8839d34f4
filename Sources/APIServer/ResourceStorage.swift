// The generic REST storage every resource shares (k8s.io/apiserver's registry/generic/registry):
// create with generateName/uid/defaults/validation, get, list with selectors and paging,
// guaranteed updates (read, mutate, compare-and-swap, retry), graceful deletion and finalizers.
import API
import Foundation
import Store

struct StoredObject {
    var object: JSONValue
    var revision: Int64
    /// A server-side apply created the object (201, not 200).
    var created = false
}

final class ResourceStorage: Sendable {
    let store: any KeyValueStore
    let services: ServiceAllocator
    /// New pods get a projected service account token volume (only where tokens are issued: a master serving TLS).
    let mountsServiceAccountTokens: Bool
    /// Quota charges of one namespace are decided a batch at a time (QuotaCharging.swift).
    let quotaBatches = QuotaBatches()
    /// LimitRanges, ResourceQuotas and PriorityClasses as admission reads them.
    let admissionCache: AdmissionCache

    init(store: any KeyValueStore, serviceCIDR: String = "10.96.0.0/12", nodePorts: ClosedRange<Int64> = 30000...32767,
         mountsServiceAccountTokens: Bool = false) {
        self.store = store
        self.mountsServiceAccountTokens = mountsServiceAccountTokens
        admissionCache = AdmissionCache(store: store)
        self.services = ServiceAllocator(store: store, cidr: serviceCIDR, nodePorts: nodePorts)
    }

    // MARK: keys

    static func prefix(_ type: ResourceType) -> String {
        "/" + type.plural + (type.group.isEmpty ? "" : "." + type.group) + "/"
    }

    static func key(_ type: ResourceType, namespace: String?, name: String) -> String {
        type.namespaced ? prefix(type) + (namespace ?? "") + "/" + name : prefix(type) + name
    }

    static func listPrefix(_ type: ResourceType, namespace: String?) -> String {
        if type.namespaced, let ns = namespace { return prefix(type) + ns + "/" }
        return prefix(type)
    }

    // MARK: reads

    func get(_ type: ResourceType, namespace: String?, name: String) async throws -> StoredObject {
        let key = Self.key(type, namespace: namespace, name: name)
        guard let kv = try await store.get(key) else { throw APIError.notFound(type, name) }
        return StoredObject(object: ObjectCodec.decode(kv.value, revision: kv.modRevision), revision: kv.modRevision)
    }

    func getRaw(_ type: ResourceType, namespace: String?, name: String) async throws -> KeyValue {
        guard let kv = try await store.get(Self.key(type, namespace: namespace, name: name)) else { throw APIError.notFound(type, name) }
        return kv
    }

    /// Every object of a type (of one namespace, when given) as stored now.
    func list(_ type: ResourceType, namespace: String?) async throws -> [JSONValue] {
        let page = try await store.list(prefix: Self.listPrefix(type, namespace: namespace), limit: nil, continueAfter: nil, revision: nil)
        return page.items.map { ObjectCodec.decode($0.value, revision: $0.modRevision) }
    }

    // MARK: create

    /// Validates and stores a new object; returns it as stored and its revision.
    func create(_ type: ResourceType, namespace: String?, body: JSONValue, dryRun: Bool = false,
                fields: FieldTracking = .untracked) async throws -> StoredObject {
        let strategy = type.strategy
        var obj = try checkTypeMeta(body, type)
        var meta = obj["metadata"]?.objectValue ?? JSONObject()
        var namespaceObject: JSONValue?
        if type.namespaced {
            let ns = namespace ?? meta["namespace"]?.stringValue ?? "default"
            if let given = meta["namespace"]?.stringValue, !given.isEmpty, given != ns {
                throw APIError.badRequest("the namespace of the provided object does not match the namespace sent on the request")
            }
            meta["namespace"] = .string(ns)
            namespaceObject = try await requireActiveNamespace(ns)
        } else {
            meta["namespace"] = nil
        }
        let generateName = meta["generateName"]?.stringValue ?? ""
        let givenName = meta["name"]?.stringValue ?? ""
        meta["uid"] = .string(ObjectCodec.uid())
        meta["creationTimestamp"] = .string(ObjectCodec.timestamp())
        meta["resourceVersion"] = nil
        meta["deletionTimestamp"] = nil
        meta["deletionGracePeriodSeconds"] = nil
        meta["selfLink"] = nil
        if case .applied = fields {} else { meta["managedFields"] = nil }
        if strategy.tracksGeneration { meta["generation"] = 1 } else { meta["generation"] = nil }
        obj["metadata"] = .object(meta)
        strategy.prepareForCreate(&obj)
        strategy.applyDefaults(&obj)
        // Mutating admission, in kube-apiserver's order: LimitRanger, ServiceAccount, Priority.
        if type.kind == "Pod", let ns = meta["namespace"]?.stringValue {
            try await admitLimitRangeDefaults(&obj, namespace: ns)
            try await admitServiceAccount(&obj, namespace: ns, podName: givenName.isEmpty ? generateName : givenName)
            try await admitPriority(&obj, name: givenName.isEmpty ? generateName : givenName)
            PodRules.setQOSClass(&obj)   // (from the requests and limits admission set)
        }
        // Pod Security admission: the namespace's enforce level refuses what breaks it.
        if type.kind == "Pod", let level = PodSecurity.level(namespaceObject), level != .privileged {
            let violations = PodSecurity.violations(obj, level: level)
            if !violations.isEmpty {
                throw APIError.forbidden(PodSecurity.message(pod: givenName.isEmpty ? generateName : givenName, level: level, violations: violations))
            }
        }
        if type.kind == "PersistentVolumeClaim" || type.kind == "PersistentVolume" { try await admitStorage(&obj, kind: type.kind) }
        if type.kind == "Service" && !dryRun { try await services.allocate(&obj) }
        if case .update(let owner) = fields {
            // (The client's own entries, when valid, are where the creator's start from.)
            obj = FieldManager.update(old: nil, new: obj, entries: ManagedFieldsEntry.entries(of: body) ?? [],
                                      writer: writer(owner, type, strategy))
        }

        var charges: QuotaCharges?
        for attempt in 0..<8 {
            if givenName.isEmpty && !generateName.isEmpty {
                obj["metadata"]?["name"] = .string(String((generateName + ObjectCodec.randomSuffix()).prefix(253)))
            }
            let name = obj["metadata"]?["name"]?.stringValue ?? ""
            let errs = validateMeta(obj, type, strategy) + strategy.validate(obj)
            if !errs.isEmpty {
                if type.kind == "Service" && !dryRun { await services.release(obj) }
                throw APIError.invalid(type, name, errs)
            }
            // Validating admission, once: LimitRanger's bounds, the one default class, then quota.
            if charges == nil {
                do {
                    try await admitGovernance(obj, type: type)
                    charges = try await chargeQuota(obj, old: nil, type: type, dryRun: dryRun)
                } catch {
                    if type.kind == "Service" && !dryRun { await services.release(obj) }
                    throw error
                }
            }
            if dryRun { return StoredObject(object: obj, revision: 0) }
            let key = Self.key(type, namespace: obj["metadata"]?["namespace"]?.stringValue, name: name)
            do {
                let rev = try await store.create(key, value: ObjectCodec.encodeForStorage(obj))
                admissionCache.written(type, namespace: obj["metadata"]?["namespace"]?.stringValue)
                obj["metadata"]?["resourceVersion"] = .string(String(rev))
                return StoredObject(object: obj, revision: rev)
            } catch let e as StoreError where e.code == .alreadyExists && givenName.isEmpty && attempt < 7 {
                continue   // generateName collided: draw another suffix
            } catch {
                if type.kind == "Service" { await services.release(obj) }
                if let charges { await refund(charges) }
                throw APIError.from(error, type: type, name: name)
            }
        }
        if let charges { await refund(charges) }
        throw APIError.internalError("could not generate a unique name")
    }

    func checkTypeMeta(_ body: JSONValue, _ type: ResourceType) throws -> JSONValue {
        guard case .object = body else { throw APIError.badRequest("the request body must be a JSON object, found \(body.typeName)") }
        var obj = body
        if let kind = obj["kind"]?.stringValue, !kind.isEmpty, kind != type.kind {
            throw APIError.badRequest("the kind in the data (\(kind)) does not match the expected kind (\(type.kind)) for \(type.plural)")
        }
        if let av = obj["apiVersion"]?.stringValue, !av.isEmpty, av != type.groupVersion {
            throw APIError.badRequest("the API version in the data (\(av)) does not match the expected API version (\(type.groupVersion))")
        }
        if let m = obj["metadata"], !m.isNull, m.objectValue == nil {
            throw APIError.badRequest("metadata must be an object, found \(m.typeName)")
        }
        obj["kind"] = .string(type.kind)
        obj["apiVersion"] = .string(type.groupVersion)
        return obj
    }

    func validateMeta(_ obj: JSONValue, _ type: ResourceType, _ strategy: ResourceStrategy) -> [FieldError] {
        let m = obj["metadata"] ?? .null
        var errs: [FieldError] = []
        let name = m["name"]?.stringValue ?? ""
        if name.isEmpty {
            errs.append(FieldError(.required, field: "metadata.name", detail: "name or generateName is required"))
        } else {
            errs += strategy.nameRule(name, "metadata.name")
        }
        for key in ["labels", "annotations"] {
            if let v = m[key], !v.isNull, v.stringMap == nil {
                errs.append(FieldError(.invalid, field: "metadata.\(key)", value: v.jsonString, detail: "must be a map of string to string"))
            }
        }
        var meta = ObjectMeta()
        meta.labels = m["labels"]?.stringMap
        meta.annotations = m["annotations"]?.stringMap
        meta.finalizers = m["finalizers"]?.arrayValue?.compactMap(\.stringValue)
        meta.name = name.isEmpty ? "x" : name
        errs += meta.validate(namespaced: false).filter { $0.field != "metadata.name" }
        return errs
    }

    /// The namespace, which must exist and not be terminating.
    @discardableResult
    func requireActiveNamespace(_ ns: String) async throws -> JSONValue? {
        let nsType = ResourceRegistry.lookup(groupVersion: "v1", plural: "namespaces")!
        guard let kv = try await store.get(Self.key(nsType, namespace: nil, name: ns)) else { throw APIError.notFound(nsType, ns) }
        let v = try? JSONValue.parse(kv.value)
        if v?["metadata"]?["deletionTimestamp"] != nil {
            throw APIError.forbidden("unable to create new content in namespace \(ns) because it is being terminated")
        }
        return v
    }

    // MARK: update

    /// What a write may change: the object, its status, its scale, or a pod's ephemeral containers.
    enum UpdateTarget { case main, status, scale, ephemeralContainers }

    /// How a write keeps metadata.managedFields.
    enum FieldTracking {
        /// Server-internal writes: the object's entries stay as they are.
        case untracked
        /// A create, update or patch on behalf of a field manager.
        case update(FieldOwner)
        /// A server-side apply: the object comes with its entries computed.
        case applied
    }

    struct FieldOwner {
        var manager: String
        var subresource: String?
    }

    func writer(_ owner: FieldOwner, _ type: ResourceType, _ strategy: ResourceStrategy) -> FieldWriter {
        FieldWriter(manager: owner.manager, apiVersion: type.groupVersion, subresource: owner.subresource,
                    kindHasStatus: strategy.hasStatus, types: .of(type), now: ObjectCodec.timestamp())
    }

    /// Reads the object, applies `mutate`, validates and compare-and-swaps; retries on a race
    /// unless the client pinned a resourceVersion (then a stale one is a 409).
    func guaranteedUpdate(_ type: ResourceType, namespace: String?, name: String, target: UpdateTarget = .main,
                          dryRun: Bool = false, fields: FieldTracking = .untracked,
                          mutate: (JSONValue) throws -> JSONValue) async throws -> StoredObject {
        let strategy = type.strategy
        let key = Self.key(type, namespace: namespace, name: name)
        for _ in 0..<16 {
            guard let kv = try await store.get(key) else { throw APIError.notFound(type, name) }
            let old = ObjectCodec.decode(kv.value, revision: kv.modRevision)
            var new = try checkTypeMeta(try mutate(old), type)
            let pinned = new["metadata"]?["resourceVersion"]?.stringValue ?? ""
            if !pinned.isEmpty && pinned != String(kv.modRevision) {
                throw APIError(.conflict(group: type.group, resource: type.plural, name: name))
            }
            if let newName = new["metadata"]?["name"]?.stringValue, newName != name {
                throw APIError.badRequest("the name of the object (\(newName)) does not match the name on the URL (\(name))")
            }
            new = prepareUpdate(new, old: old, strategy: strategy, target: target, fields: fields)
            // A write that changes nothing is not a write: same object, same resourceVersion.
            new["metadata"]?["resourceVersion"] = old["metadata"]?["resourceVersion"]
            // Services: cluster IP and node ports carried over, added or refused (given back below if the write fails).
            let reserved = type.kind == "Service" && target == .main ? try await services.reallocate(&new, old: old) : []
            if new == old { return StoredObject(object: old, revision: kv.modRevision) }
            if case .update(let owner) = fields {
                new = FieldManager.update(old: old, new: new, entries: ManagedFieldsEntry.entries(of: new) ?? [],
                                          writer: writer(owner, type, strategy))
            }
            if type.kind == "PersistentVolumeClaim" && target == .main { try await admitClaimResize(new, old: old) }
            let errs = validateMeta(new, type, strategy) + strategy.validate(new) + strategy.validateUpdate(new, old)
            if !errs.isEmpty || dryRun { await services.release(ports: reserved) }
            if !errs.isEmpty { throw APIError.invalid(type, name, errs) }
            // Validating admission of a change: claims' bounds, the one default class, quota.
            var charges = QuotaCharges()
            if target == .main {
                do {
                    if type.kind != "Pod" { try await admitGovernance(new, type: type) }
                    charges = try await chargeQuota(new, old: old, type: type, dryRun: dryRun)
                } catch {
                    await services.release(ports: reserved)
                    throw error
                }
            }
            if dryRun { return StoredObject(object: new, revision: kv.modRevision) }
            // Finalizers all gone on an object being deleted: the update completes the deletion.
            if new["metadata"]?["deletionTimestamp"] != nil, (new["metadata"]?["finalizers"]?.arrayValue ?? []).isEmpty,
               type.kind != "Pod" || (new["metadata"]?["deletionGracePeriodSeconds"]?.intValue ?? 0) == 0 {
                do {
                    let (_, rev) = try await store.delete(key, expectedModRevision: kv.modRevision)
                    admissionCache.written(type, namespace: namespace)
                    new["metadata"]?["resourceVersion"] = .string(String(rev))
                    if type.kind == "Service" { await services.release(new); await services.releaseDropped(old: old, new: new) }
                    return StoredObject(object: new, revision: rev)
                } catch let e as StoreError where isConflict(e) {
                    await services.release(ports: reserved)
                    await refund(charges)
                    continue
                }
            }
            do {
                let rev = try await store.update(key, value: ObjectCodec.encodeForStorage(new), expectedModRevision: kv.modRevision)
                admissionCache.written(type, namespace: namespace)
                new["metadata"]?["resourceVersion"] = .string(String(rev))
                if type.kind == "Service" { await services.releaseDropped(old: old, new: new) }
                return StoredObject(object: new, revision: rev)
            } catch let e as StoreError where isConflict(e) {
                await services.release(ports: reserved)
                await refund(charges)
                if !pinned.isEmpty { throw APIError(.conflict(group: type.group, resource: type.plural, name: name)) }
                continue
            } catch {
                await services.release(ports: reserved)
                await refund(charges)
                throw APIError.from(error, type: type, name: name)
            }
        }
        throw APIError(.conflict(group: type.group, resource: type.plural, name: name))
    }

    func isConflict(_ e: StoreError) -> Bool { if case .conflict = e.code { return true }; return false }

    /// Keeps what clients may not change through this endpoint: server metadata always; status on
    /// main-resource updates; everything but status on /status updates. Bumps generation.
    func prepareUpdate(_ newIn: JSONValue, old: JSONValue, strategy: ResourceStrategy, target: UpdateTarget,
                       fields: FieldTracking = .untracked) -> JSONValue {
        var new = newIn
        switch target {
        case .main:
            // A pod's ephemeral containers change only through pods/ephemeralcontainers.
            if new["kind"]?.stringValue == "Pod", new["spec"] != nil { new["spec"]?["ephemeralContainers"] = old["spec"]?["ephemeralContainers"] }
        case .ephemeralContainers:
            // pods/ephemeralcontainers changes spec.ephemeralContainers and nothing else.
            var keep = old
            keep["spec"]?["ephemeralContainers"] = new["spec"]?["ephemeralContainers"]
            keep["metadata"]?["resourceVersion"] = new["metadata"]?["resourceVersion"]
            new = keep
        case .status, .scale: break
        }
        if strategy.hasStatus {
            switch target {
            case .main, .scale, .ephemeralContainers: new["status"] = old["status"]
            case .status:
                var keep = old
                keep["status"] = new["status"]
                // A status write changes status (and labels/annotations); nothing else.
                keep["metadata"]?["labels"] = new["metadata"]?["labels"]
                keep["metadata"]?["annotations"] = new["metadata"]?["annotations"]
                keep["metadata"]?["resourceVersion"] = new["metadata"]?["resourceVersion"]
                new = keep
            }
        }
        var meta = new["metadata"]?.objectValue ?? JSONObject()
        let oldMeta = old["metadata"]?.objectValue ?? JSONObject()
        for k in ["uid", "creationTimestamp", "namespace", "deletionTimestamp", "deletionGracePeriodSeconds", "generation", "generateName"] {
            meta[k] = oldMeta[k]
        }
        meta["managedFields"] = Self.keptManagedFields(given: meta["managedFields"], old: oldMeta["managedFields"], fields: fields)
        meta["selfLink"] = nil
        new["metadata"] = .object(meta)
        strategy.applyDefaults(&new)
        if strategy.tracksGeneration, target != .status, new["spec"] != old["spec"] {
            new["metadata"]?["generation"] = .int((oldMeta["generation"]?.intValue ?? 1) + 1)
        }
        if strategy.hasStatus, target != .status, let s = old["status"] { new["status"] = s }
        return new
    }

    /// The entries an update starts from: an apply's own; a client's list when it sends a valid
    /// one (`[{}]` resets them); otherwise — absent, empty, malformed — the stored ones.
    static func keptManagedFields(given: JSONValue?, old: JSONValue?, fields: FieldTracking) -> JSONValue? {
        switch fields {
        case .applied: return given
        case .untracked: return old
        case .update:
            guard let list = given?.arrayValue, !list.isEmpty, given != old else { return old }
            if list.count == 1, list[0].objectValue?.isEmpty == true { return nil }
            return list.allSatisfy({ ManagedFieldsEntry(json: $0) != nil }) ? given : old
        }
    }

    // MARK: delete

    struct DeleteOptions {
        var gracePeriodSeconds: Int64?
        var preconditionUID: String?
        var preconditionResourceVersion: String?
        var dryRun = false
        /// Background (default), Orphan or Foreground: the latter two leave the object with the
        /// garbage collector's finalizer ("orphan" / "foregroundDeletion") until it has acted.
        var propagationPolicy: String?

        /// Takes what a metav1.DeleteOptions says (a DELETE's body, an Eviction's deleteOptions).
        mutating func merge(_ body: API.DeleteOptions) {
            if let g = body.gracePeriodSeconds { gracePeriodSeconds = g }
            if let uid = body.preconditions.uid { preconditionUID = uid }
            if let rv = body.preconditions.resourceVersion { preconditionResourceVersion = rv }
            if body.dryRun?.contains("All") == true { dryRun = true }
            if let p = body.propagationPolicy { propagationPolicy = p }
            if let o = body.orphanDependents { propagationPolicy = o ? "Orphan" : "Background" }
        }

        func checkPropagation() throws {
            if let p = propagationPolicy, !["Orphan", "Foreground", "Background"].contains(p) {
                throw APIError.badRequest("propagationPolicy \(p) is not one of Orphan, Foreground, Background")
            }
        }
    }

    /// Deletes now, or marks for deletion (finalizers pending, or a pod awaiting its node).
    /// Returns the object's last state and whether it is gone.
    func delete(_ type: ResourceType, namespace: String?, name: String, options: DeleteOptions) async throws -> (StoredObject, gone: Bool) {
        try refuseSystemClassDeletion(type, name: name)
        let key = Self.key(type, namespace: namespace, name: name)
        for _ in 0..<16 {
            guard let kv = try await store.get(key) else { throw APIError.notFound(type, name) }
            var obj = ObjectCodec.decode(kv.value, revision: kv.modRevision)
            let meta = obj["metadata"] ?? .null
            if let uid = options.preconditionUID, uid != meta["uid"]?.stringValue {
                throw APIError(Status(code: 409, reason: "Conflict",
                                      message: "Precondition failed: UID in precondition: \(uid), UID in object meta: \(meta["uid"]?.stringValue ?? "")"))
            }
            if let rv = options.preconditionResourceVersion, rv != String(kv.modRevision) {
                throw APIError(Status(code: 409, reason: "Conflict",
                                      message: "Precondition failed: ResourceVersion in precondition: \(rv), ResourceVersion in object meta: \(kv.modRevision)"))
            }
            var finalizers = meta["finalizers"]?.arrayValue ?? []
            if meta["deletionTimestamp"] == nil, let gcFinalizer = ["Orphan": "orphan", "Foreground": "foregroundDeletion"][options.propagationPolicy ?? ""],
               !finalizers.contains(.string(gcFinalizer)) {
                finalizers.append(.string(gcFinalizer))
                obj["metadata"]?["finalizers"] = .array(finalizers)
            }
            let grace = gracePeriod(type, obj, options)
            let needsFinalizers = !finalizers.isEmpty || type.kind == "Namespace"
            if needsFinalizers || grace > 0 {
                // Graceful: stamp deletionTimestamp (once; a shorter grace may shorten it).
                let existingGrace = meta["deletionGracePeriodSeconds"]?.intValue
                if meta["deletionTimestamp"] != nil, let existingGrace, existingGrace <= grace {
                    return (StoredObject(object: obj, revision: kv.modRevision), false)
                }
                if options.dryRun { return (StoredObject(object: obj, revision: kv.modRevision), false) }
                obj["metadata"]?["deletionTimestamp"] = .string(ObjectCodec.timestamp(Date().addingTimeInterval(TimeInterval(grace))))
                obj["metadata"]?["deletionGracePeriodSeconds"] = .int(grace)
                if type.kind == "Namespace" { obj["status"]?["phase"] = "Terminating" }
                do {
                    let rev = try await store.update(key, value: ObjectCodec.encodeForStorage(obj), expectedModRevision: kv.modRevision)
                    admissionCache.written(type, namespace: namespace)
                    obj["metadata"]?["resourceVersion"] = .string(String(rev))
                    return (StoredObject(object: obj, revision: rev), false)
                } catch let e as StoreError where isConflict(e) { continue }
            }
            if options.dryRun { return (StoredObject(object: obj, revision: kv.modRevision), true) }
            do {
                let (_, rev) = try await store.delete(key, expectedModRevision: kv.modRevision)
                admissionCache.written(type, namespace: namespace)
                if type.kind == "Service" { await services.release(obj) }
                return (StoredObject(object: obj, revision: rev), true)
            } catch let e as StoreError where isConflict(e) { continue }
        }
        throw APIError(.conflict(group: type.group, resource: type.plural, name: name))
    }

    /// Pods bound to a node get a grace period (the node stops the containers, then deletes
    /// with grace 0); everything else goes at once.
    func gracePeriod(_ type: ResourceType, _ obj: JSONValue, _ options: DeleteOptions) -> Int64 {
        guard type.kind == "Pod" else { return 0 }
        let phase = obj["status"]?["phase"]?.stringValue ?? ""
        guard let node = obj["spec"]?["nodeName"]?.stringValue, !node.isEmpty, phase != "Succeeded", phase != "Failed" else { return 0 }
        return max(0, options.gracePeriodSeconds ?? obj["spec"]?["terminationGracePeriodSeconds"]?.intValue ?? 30)
    }
}
