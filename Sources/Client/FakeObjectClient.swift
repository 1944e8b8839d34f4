// An in-memory ObjectClient for unit tests of controllers (client-go's fake clientset): objects
// get uids, resourceVersions and creation times as the API server gives them, updates check the
// resourceVersion, deletes honour finalizers, and every write is recorded for assertions.
// APIClient is its real twin; the controllers' root tests run against it.
import API
import Foundation
import Synchronization

public final class FakeObjectClient: ObjectClient, Sendable {
    public struct Action: Sendable, Equatable, CustomStringConvertible {
        public var verb: String       // create, update, patch, delete
        public var kind: String
        public var key: String        // namespace/name
        public var subresource: String?
        public var description: String { "\(verb) \(kind) \(key)" + (subresource.map { "/" + $0 } ?? "") }
    }

    struct State {
        var objects: [String: JSONValue] = [:]    // "Kind namespace/name"
        var revision = 0
        var actions: [Action] = []
        var failures: [String: APIStatusError] = [:]   // "verb Kind" → error to throw
    }
    private let state = Mutex(State())
    /// Change handlers by kind, called after each write as an informer would (old, new).
    private let handlers = Mutex<[String: [@Sendable (JSONValue?, JSONValue?) -> Void]]>([:])
    /// The clock creation and deletion timestamps come from.
    public let now: @Sendable () -> Date

    public init(now: @escaping @Sendable () -> Date = { Date() }) { self.now = now }

    static func storeKey<T: KubernetesObject>(_: T.Type, _ namespace: String?, _ name: String) -> String {
        let ns = T.resource.namespaced ? (namespace ?? "") : ""
        return T.kind + " " + (ns.isEmpty ? name : ns + "/" + name)
    }

    // MARK: test helpers

    /// Puts objects in as they are (uid and resourceVersion filled in when missing).
    public func seed<T: KubernetesObject>(_ objects: T...) {
        state.withLock { s in
            for var o in objects {
                s.revision += 1
                if o.metadata.uid == nil { o.metadata.uid = UUID().uuidString.lowercased() }
                o.metadata.resourceVersion = String(s.revision)
                s.objects[Self.storeKey(T.self, o.metadata.namespace, o.name)] = o.json
            }
        }
    }

    /// The writes so far (reads are not recorded), and forgets them.
    public func takeActions() -> [Action] { state.withLock { s in defer { s.actions = [] }; return s.actions } }

    /// Makes every `verb` ("create", "update", "patch", "delete") of kind T fail with `error`.
    public func failing<T: KubernetesObject>(_ verb: String, _: T.Type, with error: APIStatusError?) {
        state.withLock { $0.failures[verb + " " + T.kind] = error }
    }

    /// Calls `handler(old, new)` after every write of kind T: (nil, o) created, (o, nil) gone.
    public func onChange<T: KubernetesObject>(_: T.Type, _ handler: @escaping @Sendable (_ old: T?, _ new: T?) -> Void) {
        handlers.withLock { $0[T.kind, default: []].append { old, new in handler(old.map(T.init(json:)), new.map(T.init(json:))) } }
    }

    private func notify(_ kind: String, _ old: JSONValue?, _ new: JSONValue?) {
        guard old != nil || new != nil else { return }
        for h in handlers.withLock({ $0[kind] ?? [] }) { h(old, new) }
    }

    /// Runs a write under the lock, then tells the handlers what changed.
    private func write<T: KubernetesObject, R>(_: T.Type, _ key: String, _ body: (inout State) throws -> R) rethrows -> R {
        var old: JSONValue?, new: JSONValue?
        let result = try state.withLock { s in
            old = s.objects[key]
            defer { new = s.objects[key] }
            return try body(&s)
        }
        if old != new { notify(T.kind, old, new) }
        return result
    }

    /// A lister over the store, as controllers get one over an informer.
    public func lister<T: KubernetesObject>(_: T.Type) -> Lister<T> {
        Lister(items: { [self] in state.withLock { s in s.objects.filter { $0.key.hasPrefix(T.kind + " ") }.map(\.value) } },
               get: { [self] key in state.withLock { $0.objects[T.kind + " " + key] } })
    }

    // MARK: ObjectClient

    private func record<T: KubernetesObject>(_ s: inout State, _ verb: String, _: T.Type, _ key: String, _ sub: String? = nil) throws {
        if let e = s.failures[verb + " " + T.kind] { throw e }
        s.actions.append(Action(verb: verb, kind: T.kind, key: key, subresource: sub))
    }

    private static func notFound<T: KubernetesObject>(_: T.Type, _ name: String) -> APIStatusError {
        APIStatusError(code: 404, reason: "NotFound", message: "\(T.resource.plural) \"\(name)\" not found")
    }

    public func get<T: KubernetesObject>(_ type: T.Type, namespace: String?, name: String) throws -> T? {
        state.withLock { $0.objects[Self.storeKey(type, namespace, name)] }.map(T.init(json:))
    }

    public func list<T: KubernetesObject>(_ type: T.Type, namespace: String?, labelSelector: String?) throws -> [T] {
        let selector = try labelSelector.map { try LabelSelector(parsing: $0) }
        return lister(type).list(namespace: namespace).filter { selector?.matches($0.metadata.labels ?? [:]) ?? true }
    }

    public func create<T: KubernetesObject>(_ object: T) throws -> T {
        var o = object
        let created = now()
        if (o.metadata.name ?? "").isEmpty, let prefix = o.metadata.generateName {
            o.metadata.name = prefix + String(UUID().uuidString.lowercased().prefix(5))
        }
        let key = Self.storeKey(T.self, o.metadata.namespace, o.name)
        return try write(T.self, key) { s in
            try record(&s, "create", T.self, key.split(separator: " ", maxSplits: 1).last.map(String.init) ?? "")
            guard s.objects[key] == nil else {
                throw APIStatusError(code: 409, reason: "AlreadyExists", message: "\(T.resource.plural) \"\(o.name)\" already exists")
            }
            s.revision += 1
            o.metadata.uid = UUID().uuidString.lowercased()
            o.metadata.resourceVersion = String(s.revision)
            o.metadata.creationTimestamp = created
            s.objects[key] = o.json
            return o
        }
    }

    public func update<T: KubernetesObject>(_ object: T, subresource: String?) throws -> T {
        let key = Self.storeKey(T.self, object.metadata.namespace, object.name)
        return try write(T.self, key) { s in
            try record(&s, "update", T.self, object.key, subresource)
            guard let stored = s.objects[key].map(T.init(json:)) else { throw Self.notFound(T.self, object.name) }
            if let rv = object.metadata.resourceVersion, rv != stored.metadata.resourceVersion {
                throw APIStatusError(code: 409, reason: "Conflict", message: "Operation cannot be fulfilled on \(T.resource.plural) \"\(object.name)\": the object has been modified; please apply your changes to the latest version and try again")
            }
            var next = stored
            if subresource == "status" { next.json["status"] = object.json["status"] } else {
                next = object
                next.json["status"] = stored.json["status"]
                next.metadata.uid = stored.metadata.uid
                next.metadata.creationTimestamp = stored.metadata.creationTimestamp
                next.metadata.deletionTimestamp = stored.metadata.deletionTimestamp
            }
            return store(&s, next, key: key)
        }
    }

    public func patch<T: KubernetesObject>(_ type: T.Type, namespace: String?, name: String, _ patch: JSONValue, _ kind: PatchKind,
                                           subresource: String?) throws -> T {
        let key = Self.storeKey(type, namespace, name)
        return try write(T.self, key) { s in
            try record(&s, "patch", type, key.split(separator: " ", maxSplits: 1).last.map(String.init) ?? "", subresource)
            guard let stored = s.objects[key] else { throw Self.notFound(type, name) }
            var patched: JSONValue
            do {
                switch kind {
                case .merge: patched = Patch.mergePatch(stored, patch)
                case .json: patched = try Patch.jsonPatch(stored, patch)
                case .strategic: patched = try Patch.strategicMergePatch(stored, patch, kind: T.kind)
                }
            } catch {
                throw APIStatusError(code: 422, reason: "Invalid", message: "\(error)")
            }
            if subresource == "status" {
                var next = stored
                next["status"] = patched["status"]
                patched = next
            }
            return store(&s, T(json: patched), key: key)
        }
    }

    public func delete<T: KubernetesObject>(_ type: T.Type, namespace: String?, name: String, propagation: DeletionPropagation?,
                                            preconditionUID: String?) throws -> Bool {
        let deleted = now()
        let key = Self.storeKey(type, namespace, name)
        return try write(T.self, key) { s in
            try record(&s, "delete", type, key.split(separator: " ", maxSplits: 1).last.map(String.init) ?? "")
            guard var o = s.objects[key].map(T.init(json:)) else { return false }
            if let preconditionUID, preconditionUID != o.metadata.uid {
                throw APIStatusError(code: 409, reason: "Conflict", message: "Precondition failed: UID in precondition: \(preconditionUID), UID in object meta: \(o.uid)")
            }
            if (o.metadata.finalizers ?? []).isEmpty {
                s.objects[key] = nil
            } else if o.metadata.deletionTimestamp == nil {
                o.metadata.deletionTimestamp = deleted
                _ = store(&s, o, key: key)
            }
            return true
        }
    }

    /// Stores a write; an object being deleted goes once its last finalizer is gone.
    private func store<T: KubernetesObject>(_ s: inout State, _ object: T, key: String) -> T {
        var o = object
        s.revision += 1
        o.metadata.resourceVersion = String(s.revision)
        if o.metadata.deletionTimestamp != nil, (o.metadata.finalizers ?? []).isEmpty {
            s.objects[key] = nil
        } else {
            s.objects[key] = o.json
        }
        return o
    }
}
