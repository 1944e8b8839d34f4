// `kubectl get` columns for limitranges, resourcequotas and priorityclasses, as Kubernetes'
// server-side printers give them.
import API
import Foundation

extension Tables {
    static func governanceColumns(_ kind: String, name: TableColumn, age: TableColumn) -> [TableColumn]? {
        switch kind {
        case LimitRange.kind:
            return [name, TableColumn(name: "Created At", type: "date", description: age.description)]
        case ResourceQuota.kind:
            return [name, age,
                    TableColumn(name: "Request", description: "Request represents a minimum amount of cpu/memory that a container may consume."),
                    TableColumn(name: "Limit", description: "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.")]
        case PriorityClass.kind:
            return [name,
                    TableColumn(name: "Value", type: "integer", description: "value represents the integer value of this priority class."),
                    TableColumn(name: "Global-Default", type: "boolean", description: "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class."),
                    age,
                    TableColumn(name: "PreemptionPolicy", description: "preemptionPolicy is the Policy for preempting pods with lower priority.")]
        default: return nil
        }
    }

    static func governanceCells(_ o: JSONValue, kind: String, name: JSONValue, age: JSONValue) -> [JSONValue]? {
        switch kind {
        case LimitRange.kind:
            let lr = LimitRange(json: o)
            return [name, lr.metadata.creationTimestamp.map { .string(ObjectCodec.timestamp($0)) } ?? .null]
        case ResourceQuota.kind:
            let (requests, limits) = quotaColumns(ResourceQuota(json: o))
            return [name, age, .string(requests), .string(limits)]
        case PriorityClass.kind:
            let pc = PriorityClass(json: o)
            return [name, .int(pc.value ?? 0), .bool(pc.globalDefault ?? false), age, .string(pc.preemptionPolicy ?? "")]
        default: return nil
        }
    }

    /// `pods: 1/10, requests.cpu: 500m/2` — the limits.* names in the second column (printResourceQuota).
    static func quotaColumns(_ q: ResourceQuota) -> (requests: String, limits: String) {
        let hard = q.status.hard ?? [:], used = q.status.used ?? [:]
        var requests: [String] = [], limits: [String] = []
        for resource in hard.keys.sorted() {
            let shown = { (text: String?) in text.flatMap { try? Quantity(parsing: $0) }?.description ?? "0" }
            let cell = "\(resource): \(shown(used[resource]))/\(shown(hard[resource]))"
            if resource.hasPrefix(ResourceName.limitsPrefix) { limits.append(cell) } else { requests.append(cell) }
        }
        return (requests.joined(separator: ", "), limits.joined(separator: ", "))
    }
}
