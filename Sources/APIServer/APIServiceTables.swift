// `kubectl get apiservices` columns, as kube-aggregator prints them.
import API
import Foundation

extension Tables {
    static func apiServiceColumns(name: TableColumn, age: TableColumn) -> [TableColumn] {
        [name, TableColumn(name: "Service"), TableColumn(name: "Available"), age]
    }

    /// SERVICE is `namespace/name`, or Local for a group the API server serves; AVAILABLE the
    /// Available condition (with its reason when not True).
    static func apiServiceCells(_ a: APIService, name: JSONValue, age: JSONValue) -> [JSONValue] {
        let service = a.spec.service.isSet ? "\(a.spec.service.namespace ?? "")/\(a.spec.service.name ?? "")" : "Local"
        var available = "Unknown"
        if let c = a.status.conditions.first(where: { $0.type == "Available" }), let status = c.status {
            available = status == .true || (c.reason ?? "").isEmpty ? status.rawValue : "\(status.rawValue) (\(c.reason ?? ""))"
        }
        return [name, .string(service), .string(available), age]
    }
}
