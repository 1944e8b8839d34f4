// Series read at scrape time rather than recorded as they happen (cAdvisor's container series:
// containers come and go, so each scrape starts from an empty registry and no series of a
// removed container lingers). Rendered by swift-prometheus like any other registry.
import Prometheus

public struct MetricsSnapshot {
    private let registry = PrometheusCollectorRegistry()

    public init() {}

    /// A gauge's value now.
    public func gauge(_ name: String, _ labels: [(String, String)], _ value: Double) {
        registry.makeGauge(name: name, labels: labels, help: MetricCatalog.help(name)).set(to: value)
    }

    /// A counter's cumulative value (read from the kernel, not counted here).
    public func counter(_ name: String, _ labels: [(String, String)], _ value: Double) {
        registry.makeCounter(name: name, labels: labels, help: MetricCatalog.help(name)).increment(by: max(0, value))
    }

    public func render() -> [UInt8] {
        var out: [UInt8] = []
        registry.emit(into: &out)
        return out
    }
}
