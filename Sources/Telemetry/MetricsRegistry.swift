// One component's metrics — the master's (API server, store, controllers, scheduler) or one
// agent's — in a Prometheus registry of its own, never a process-wide one: `skiff up` and the
// tests run a master and agents in one process, and each /metrics shows only its own series.
// Components record through swift-metrics types made with `factory`; /metrics renders the
// registry in Prometheus' text format (swift-prometheus) after the scrape-time refreshers ran.
import CoreMetrics
import Prometheus
import Synchronization

public final class MetricsRegistry: Sendable {
    /// What every series lands in.
    public let prometheus: PrometheusCollectorRegistry
    /// The swift-metrics factory over `prometheus`, with each metric's help and buckets from MetricCatalog.
    public let factory: any MetricsFactory
    private let refreshers = Mutex<[@Sendable () -> Void]>([])

    /// The exposition format's content type (text 0.0.4, what kubelets and kube-apiserver answer).
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public init() {
        let registry = PrometheusCollectorRegistry()
        prometheus = registry
        factory = CatalogMetricsFactory(registry: registry)
    }

    /// `refresh` runs before each render: for gauges read from elsewhere (queue lengths, memory).
    public func onScrape(_ refresh: @escaping @Sendable () -> Void) {
        refreshers.withLock { $0.append(refresh) }
    }

    /// The exposition text.
    public func render() -> [UInt8] {
        for refresh in refreshers.withLock({ $0 }) { refresh() }
        var out: [UInt8] = []
        out.reserveCapacity(16 << 10)
        prometheus.emit(into: &out)
        return out
    }
}

/// swift-metrics over a PrometheusCollectorRegistry, with the help text and buckets MetricCatalog
/// gives each name (Timers are duration histograms, aggregating Recorders value histograms,
/// Meters and plain Recorders gauges).
struct CatalogMetricsFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(name: label, labels: dimensions, help: MetricCatalog.help(label))
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(name: label, labels: dimensions, help: MetricCatalog.help(label))
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(name: label, labels: dimensions, help: MetricCatalog.help(label))
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard aggregate else { return registry.makeGauge(name: label, labels: dimensions, help: MetricCatalog.help(label)) }
        return registry.makeValueHistogram(name: label, labels: dimensions, buckets: MetricCatalog.buckets(label),
                                           help: MetricCatalog.help(label))
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        registry.makeDurationHistogram(name: label, labels: dimensions, buckets: MetricCatalog.buckets(label).map(Self.duration),
                                       help: MetricCatalog.help(label))
    }

    static func duration(_ seconds: Double) -> Duration { .nanoseconds(Int64((seconds * 1e9).rounded())) }

    func destroyCounter(_ handler: any CounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
    }

    func destroyMeter(_ handler: any MeterHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
    }

    func destroyRecorder(_ handler: any RecorderHandler) {
        if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
        if let histogram = handler as? ValueHistogram { registry.unregisterValueHistogram(histogram) }
    }

    func destroyTimer(_ handler: any TimerHandler) {
        if let histogram = handler as? DurationHistogram { registry.unregisterDurationHistogram(histogram) }
    }
}

/// Handles by their label values, made once: requests record through a dictionary lookup
/// rather than a registry lookup (and new label arrays) each time.
public final class LabeledHandles<Key: Hashable & Sendable, Handle: AnyObject & Sendable>: Sendable {
    private let handles = Mutex<[Key: Handle]>([:])
    private let make: @Sendable (Key) -> Handle

    public init(_ make: @escaping @Sendable (Key) -> Handle) { self.make = make }

    public subscript(_ key: Key) -> Handle {
        handles.withLock { all in
            if let handle = all[key] { return handle }
            let handle = make(key)
            all[key] = handle
            return handle
        }
    }
}
