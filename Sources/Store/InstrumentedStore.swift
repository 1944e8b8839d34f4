// Store request latency as kube-apiserver reports its etcd calls: etcd_request_duration_seconds,
// etcd_requests_total and etcd_request_errors_total by operation (get, list, create, update,
// delete, watch, compact) and type (the resource of the key: "pods", "deployments.apps"), around
// whichever backend serves the master — SQLite or etcd.
import CoreMetrics
import Telemetry

public final class InstrumentedStore: KeyValueStore {
    public let base: any KeyValueStore
    private struct Labels: Hashable, Sendable {
        var operation: String
        var type: Substring
        var dimensions: [(String, String)] { [("operation", operation), ("type", String(type))] }
    }
    private final class Handles: Sendable {
        let duration: CoreMetrics.Timer
        let requests: Counter
        init(_ labels: Labels, factory: any MetricsFactory) {
            duration = CoreMetrics.Timer(label: "etcd_request_duration_seconds", dimensions: labels.dimensions, factory: factory)
            requests = Counter(label: "etcd_requests_total", dimensions: labels.dimensions, factory: factory)
        }
    }
    private let handles: LabeledHandles<Labels, Handles>
    /// (Made at the first failure of an operation and type, as kube-apiserver's are.)
    private let errors: LabeledHandles<Labels, Counter>

    public init(_ base: any KeyValueStore, metrics: MetricsRegistry) {
        self.base = base
        let factory = metrics.factory
        handles = LabeledHandles { Handles($0, factory: factory) }
        errors = LabeledHandles { Counter(label: "etcd_request_errors_total", dimensions: $0.dimensions, factory: factory) }
    }

    /// "/pods/ns/name" → "pods": the resource part of a key, without copying it.
    public static func type(of key: String) -> Substring {
        let path = key.hasPrefix("/") ? key.dropFirst() : Substring(key)
        return path.prefix { $0 != "/" }
    }

    private func timed<T>(_ operation: String, _ key: String, _ body: () async throws -> T) async throws -> T {
        let labels = Labels(operation: operation, type: Self.type(of: key))
        let h = handles[labels]
        let start = ContinuousClock.now
        defer {
            h.duration.recordNanoseconds(Self.nanoseconds(ContinuousClock.now - start))
            h.requests.increment()
        }
        do { return try await body() } catch { errors[labels].increment(); throw error }
    }

    static func nanoseconds(_ d: Duration) -> Int64 {
        d.components.seconds * 1_000_000_000 + d.components.attoseconds / 1_000_000_000
    }

    public func create(_ key: String, value: [UInt8]) async throws -> Int64 {
        try await timed("create", key) { try await base.create(key, value: value) }
    }

    public func get(_ key: String) async throws -> KeyValue? {
        try await timed("get", key) { try await base.get(key) }
    }

    public func list(prefix: String, limit: Int?, continueAfter: String?, revision: Int64?) async throws -> ListResult {
        try await timed("list", prefix) { try await base.list(prefix: prefix, limit: limit, continueAfter: continueAfter, revision: revision) }
    }

    public func update(_ key: String, value: [UInt8], expectedModRevision: Int64?) async throws -> Int64 {
        try await timed("update", key) { try await base.update(key, value: value, expectedModRevision: expectedModRevision) }
    }

    public func delete(_ key: String, expectedModRevision: Int64?) async throws -> (previous: KeyValue, revision: Int64) {
        try await timed("delete", key) { try await base.delete(key, expectedModRevision: expectedModRevision) }
    }

    /// Times opening the watch (its events are counted by the API server's apiserver_watch_events_total).
    public func watch(prefix: String, fromRevision: Int64) async throws -> AsyncThrowingStream<WatchEvent, Error> {
        try await timed("watch", prefix) { try await base.watch(prefix: prefix, fromRevision: fromRevision) }
    }

    public func currentRevision() async throws -> Int64 { try await base.currentRevision() }

    public func compact(upTo revision: Int64) async throws {
        try await timed("compact", "") { try await base.compact(upTo: revision) }
    }
}
