// `kubectl get poddisruptionbudgets` columns, as Kubernetes prints them.
import API
import Foundation

extension Tables {
    static func policyColumns(name: TableColumn, age: TableColumn) -> [TableColumn] {
        [name,
         TableColumn(name: "Min Available", description: "The minimum number or percentage of available pods this budget requires."),
         TableColumn(name: "Max Unavailable", description: "The maximum number or percentage of unavailable pods this budget requires."),
         TableColumn(name: "Allowed Disruptions", type: "integer", description: "Calculated number of pods that may be disrupted at this time."),
         age]
    }

    static func podDisruptionBudgetCells(_ pdb: PodDisruptionBudget, name: JSONValue, age: JSONValue) -> [JSONValue] {
        func shown(_ v: IntOrString?) -> JSONValue {
            switch v {
            case .int(let n)?: return .string(String(n))
            case .string(let s)?: return .string(s)
            case nil: return "N/A"
            }
        }
        return [name, shown(pdb.spec.minAvailable), shown(pdb.spec.maxUnavailable), .int(pdb.status.disruptionsAllowed ?? 0), age]
    }
}
