// The horizontal pod autoscaler's view of the resource metrics API: PodMetrics of the selected
// pods (metrics.k8s.io/v1beta1, served by the master's metrics pipeline) summed per pod, in
// milli-units, with the sample's time and window.
import API
import Client
import Foundation

final class PodMetricsClient: PodMetricsSource {
    let client: ObjectClient
    init(client: ObjectClient) { self.client = client }

    func usage(namespace: String, selector: String, resource: String, container: String?) throws -> [String: PodUsageSample] {
        let list = try client.list(PodMetrics.self, namespace: namespace, labelSelector: selector)
        return Self.samples(list, resource: resource, container: container)
    }

    /// Pods without a usage figure for the resource (or the container) are left out: missing.
    static func samples(_ list: [PodMetrics], resource: String, container: String?) -> [String: PodUsageSample] {
        var out: [String: PodUsageSample] = [:]
        for pod in list {
            let milli = container.map { name in
                pod.containers.first { $0.name == name }.flatMap { c in c.usage?[resource].flatMap { try? Quantity(parsing: $0).milliValue } }
            } ?? pod.milliUsage(of: resource)
            guard let milli, let at = pod.timestamp else { continue }
            let window = Double(GoDuration.parse(pod.window ?? "") ?? 0) / 1e9
            out[pod.name] = PodUsageSample(milliValue: milli, timestamp: at, window: window)
        }
        return out
    }
}
