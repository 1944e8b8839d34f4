// The metrics registry, catalog and snapshot rendered by swift-prometheus and read back; the
// work queue's and the store's series recorded by the real code paths.
import Client
import CoreMetrics
import Foundation
import Synchronization
import Store
import Telemetry
import Testing
import TestSupport

@Suite struct TelemetryTests {
    @Test func seriesCarryTheCatalogsHelpAndBuckets() {
        let registry = MetricsRegistry()
        Counter(label: "apiserver_request_total", dimensions: [("verb", "GET"), ("code", "200")], factory: registry.factory).increment(by: 3)
        let timer = CoreMetrics.Timer(label: "apiserver_request_duration_seconds", dimensions: [("verb", "GET")], factory: registry.factory)
        timer.recordMilliseconds(30)
        let text = PrometheusText(registry.render())
        #expect(text.value("apiserver_request_total", ["verb": "GET", "code": "200"]) == 3)
        #expect(text.types["apiserver_request_total"] == "counter")
        #expect(text.help["apiserver_request_total"]?.hasPrefix("Counter of apiserver requests") == true)
        #expect(text.types["apiserver_request_duration_seconds"] == "histogram")
        // kube-apiserver's buckets: 30 ms lands in le=0.05 and above, not in le=0.025.
        #expect(text.value("apiserver_request_duration_seconds_bucket", ["verb": "GET", "le": "0.025"]) == 0)
        #expect(text.value("apiserver_request_duration_seconds_bucket", ["verb": "GET", "le": "0.05"]) == 1)
        #expect(text.value("apiserver_request_duration_seconds_bucket", ["verb": "GET", "le": "60.0"]) == 1)
        #expect(text.value("apiserver_request_duration_seconds_count", ["verb": "GET"]) == 1)
        let sum = text.value("apiserver_request_duration_seconds_sum", ["verb": "GET"]) ?? 0
        #expect(abs(sum - 0.03) < 1e-9, "\(sum)")
        #expect(text.series("apiserver_request_duration_seconds_bucket", ["verb": "GET"]).count == MetricCatalog.buckets("apiserver_request_duration_seconds").count + 1)
    }

    @Test func registriesAreSeparate() {
        // Two agents (or an agent and a master) in one process: each /metrics shows its own.
        let a = MetricsRegistry(), b = MetricsRegistry()
        Counter(label: "kubelet_started_pods_total", dimensions: [], factory: a.factory).increment()
        #expect(PrometheusText(a.render()).value("kubelet_started_pods_total") == 1)
        #expect(PrometheusText(b.render()).series("kubelet_started_pods_total").isEmpty)
    }

    @Test func refreshersRunBeforeEachRender() {
        let registry = MetricsRegistry()
        let gauge = Meter(label: "scheduler_pending_pods", dimensions: [("queue", "active")], factory: registry.factory)
        let calls = Counted()
        registry.onScrape { gauge.set(calls.next()) }
        #expect(PrometheusText(registry.render()).value("scheduler_pending_pods", ["queue": "active"]) == 1)
        #expect(PrometheusText(registry.render()).value("scheduler_pending_pods", ["queue": "active"]) == 2)
    }

    @Test func processSeries() {
        let registry = MetricsRegistry()
        ProcessMetrics.register(in: registry)
        let text = PrometheusText(registry.render())
        #expect((text.value("process_resident_memory_bytes") ?? 0) > 1_048_576)
        let started = text.value("process_start_time_seconds") ?? 0
        #expect(started > Date().timeIntervalSince1970 - 86400 * 365 && started <= Date().timeIntervalSince1970 + 1, "\(started)")
    }

    @Test func snapshotEscapesLabelValues() {
        let snapshot = MetricsSnapshot()
        snapshot.gauge("container_memory_working_set_bytes", [("container", "a\"b\\c"), ("pod", "p")], 42)
        snapshot.counter("container_cpu_usage_seconds_total", [("container", "x")], 1.5)
        let text = PrometheusText(snapshot.render())
        #expect(text.value("container_memory_working_set_bytes", ["container": "a\"b\\c", "pod": "p"]) == 42)
        #expect(text.value("container_cpu_usage_seconds_total", ["container": "x"]) == 1.5)
        #expect(text.help["container_memory_working_set_bytes"] == "Current working set in bytes.")
    }

    @Test func labeledHandlesMakeEachHandleOnce() {
        let made = Counted()
        let handles = LabeledHandles<String, Counted> { _ in _ = made.next(); return Counted() }
        #expect(handles["a"] === handles["a"])
        _ = handles["b"]
        #expect(made.next() == 3)
    }

    @Test func workQueueSeries() throws {
        let registry = MetricsRegistry()
        let queue = WorkQueue()
        queue.instrument(name: "replicaset", registry: registry)
        queue.add("ns/a")
        queue.add("ns/a")   // already waiting: not another add
        queue.add("ns/b")
        var text = PrometheusText(registry.render())
        #expect(text.value("workqueue_adds_total", ["name": "replicaset"]) == 2)
        #expect(text.value("workqueue_depth", ["name": "replicaset"]) == 2)
        let key = queue.get()
        #expect(key == "ns/a")
        Thread.sleep(forTimeInterval: 0.02)
        text = PrometheusText(registry.render())
        #expect(text.value("workqueue_depth", ["name": "replicaset"]) == 1)
        #expect(text.value("workqueue_queue_duration_seconds_count", ["name": "replicaset"]) == 1)
        #expect((text.value("workqueue_longest_running_processor_seconds", ["name": "replicaset"]) ?? 0) >= 0.02)
        queue.addRateLimited(key)
        queue.done(key)
        text = PrometheusText(registry.render())
        #expect(text.value("workqueue_retries_total", ["name": "replicaset"]) == 1)
        #expect(text.value("workqueue_work_duration_seconds_count", ["name": "replicaset"]) == 1)
        #expect((text.value("workqueue_work_duration_seconds_sum", ["name": "replicaset"]) ?? 0) >= 0.02)
        #expect(text.value("workqueue_longest_running_processor_seconds", ["name": "replicaset"]) == 0)
        // The retry comes back after its back-off (5 ms) as another add.
        #expect(TestEnv.eventually(5) { PrometheusText(registry.render()).value("workqueue_adds_total", ["name": "replicaset"]) == 3 })
        #expect(text.types["workqueue_queue_duration_seconds"] == "histogram")
        #expect(text.value("workqueue_queue_duration_seconds_bucket", ["name": "replicaset", "le": "1000.0"]) == 1)
    }

    @Test func storeRequestsByOperationAndType() async throws {
        let registry = MetricsRegistry()
        let store = InstrumentedStore(MemoryStore(), metrics: registry)
        _ = try await store.create("/pods/default/web", value: Array("{}".utf8))
        _ = try await store.get("/pods/default/web")
        _ = try await store.list(prefix: "/deployments.apps/", limit: nil, continueAfter: nil, revision: nil)
        await #expect(throws: StoreError.self) { _ = try await store.create("/pods/default/web", value: Array("{}".utf8)) }
        let text = PrometheusText(registry.render())
        #expect(text.value("etcd_requests_total", ["operation": "create", "type": "pods"]) == 2)
        #expect(text.value("etcd_request_errors_total", ["operation": "create", "type": "pods"]) == 1)
        #expect(text.value("etcd_requests_total", ["operation": "get", "type": "pods"]) == 1)
        #expect(text.value("etcd_request_duration_seconds_count", ["operation": "list", "type": "deployments.apps"]) == 1)
        #expect(InstrumentedStore.type(of: "/secrets/kube-system/x") == "secrets")
        #expect(InstrumentedStore.type(of: "") == "")
    }
}

/// A thread-safe counter for the closures above.
final class Counted: Sendable {
    private let value = Mutex(0)
    func next() -> Int { value.withLock { $0 += 1; return $0 } }
}
