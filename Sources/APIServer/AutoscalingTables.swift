// `kubectl get horizontalpodautoscalers` columns, as Kubernetes prints them: targets read
// "cpu: 250%/50%" (current/target per metric, "<unknown>" before the first sample).
import API
import Foundation

extension Tables {
    static func autoscalingColumns(name: TableColumn, age: TableColumn) -> [TableColumn] {
        [name,
         TableColumn(name: "Reference", description: "Reference to the workload whose replicas are scaled."),
         TableColumn(name: "Targets", description: "The current and target values of the metrics scaled on."),
         TableColumn(name: "MinPods", description: "The lower limit for the number of replicas."),
         TableColumn(name: "MaxPods", type: "integer", description: "The upper limit for the number of replicas."),
         TableColumn(name: "Replicas", type: "integer", description: "Current number of replicas of pods managed by this autoscaler."),
         age]
    }

    static func horizontalPodAutoscalerCells(_ hpa: HorizontalPodAutoscaler, name: JSONValue, age: JSONValue) -> [JSONValue] {
        let ref = hpa.spec.scaleTargetRef
        return [name, .string("\(ref.kind ?? "")/\(ref.name ?? "")"), .string(hpaTargets(hpa.spec.metrics, hpa.status.currentMetrics)),
                .string(hpa.spec.minReplicas.map(String.init) ?? "<unset>"), .int(hpa.spec.maxReplicas ?? 0),
                .int(hpa.status.currentReplicas ?? 0), age]
    }

    /// formatHPAMetrics: the first two metrics, then "+ N more...".
    static func hpaTargets(_ specs: [MetricSpec], _ statuses: [MetricStatus]) -> String {
        if specs.isEmpty { return "<none>" }
        var list: [String] = []
        for (i, spec) in specs.enumerated() {
            let status = i < statuses.count ? statuses[i] : nil
            switch spec.type {
            case .resource?:
                list.append(resourceTarget(name: spec.resource.name, spec.resource.target, current: status?.resource.current))
            case .containerResource?:
                list.append(resourceTarget(name: spec.containerResource.name, spec.containerResource.target,
                                           current: status?.containerResource.current))
            default:
                list.append("<unknown type>")
            }
        }
        let shown = list.prefix(2).joined(separator: ", ")
        return list.count > 2 ? "\(shown) + \(list.count - 2) more..." : shown
    }

    static func resourceTarget(name: String?, _ target: MetricTarget, current: MetricValueStatus?) -> String {
        let resource = name ?? ""
        if let value = target.averageValue {
            return "\(resource): \(current?.averageValue ?? "<unknown>")/\(value)"
        }
        let now = current?.averageUtilization.map { "\($0)%" } ?? "<unknown>"
        let goal = target.averageUtilization.map { "\($0)%" } ?? "<auto>"
        return "\(resource): \(now)/\(goal)"
    }
}
