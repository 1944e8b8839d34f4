// Typed reads from an informer's cache (client-go's listers) and typed change handlers, so a
// controller sees Jobs and Pods, not JSON. A Lister can also stand over any other source of
// objects (FakeObjectClient's store in unit tests).
import API

public struct Lister<T: KubernetesObject>: Sendable {
    private let all: @Sendable () -> [JSONValue]
    private let one: @Sendable (String) -> JSONValue?

    public init(items: @escaping @Sendable () -> [JSONValue], get: @escaping @Sendable (String) -> JSONValue?) {
        all = items
        one = get
    }

    public init(_ informer: Informer) {
        self.init(items: { informer.items }, get: { informer.get($0) })
    }

    /// Every object, or those of one namespace.
    public func list(namespace: String? = nil) -> [T] {
        let items = all().map(T.init(json:))
        guard let namespace else { return items }
        return items.filter { $0.metadata.namespace == namespace }
    }

    /// By "namespace/name" (or "name" for cluster-scoped kinds).
    public func get(_ key: String) -> T? { one(key).map(T.init(json:)) }
}

extension Informer {
    /// An informer over every object of a kind (optionally narrowed by a query: label/field selector).
    public convenience init<T: KubernetesObject>(_ type: T.Type, server: String, query: String = "") {
        self.init(server: server, path: ResourceResolver.path(T.resource, namespace: nil), query: query)
    }

    /// Calls `handler(old, new)` for each change: (nil, o) added, (old, new) updated, (o, nil) deleted.
    public func onChange<T: KubernetesObject>(_: T.Type, _ handler: @escaping (_ old: T?, _ new: T?) -> Void) {
        onEvent { event in
            switch event {
            case .added(let o): handler(nil, T(json: o))
            case .updated(let old, let new): handler(T(json: old), T(json: new))
            case .deleted(let o): handler(T(json: o), nil)
            }
        }
    }
}
