// `kubectl get` columns for daemonsets, statefulsets and controllerrevisions, as Kubernetes prints them.
import API
import Foundation

extension Tables {
    static func appsColumns(_ kind: String, name: TableColumn, age: TableColumn) -> [TableColumn] {
        switch kind {
        case "ControllerRevision":
            return [name, TableColumn(name: "Controller"), TableColumn(name: "Revision", type: "integer"), age]
        case "StatefulSet":
            return [name, TableColumn(name: "Ready"), age, TableColumn(name: "Containers", priority: 1), TableColumn(name: "Images", priority: 1)]
        default: break
        }
        return [name, TableColumn(name: "Desired", type: "integer"), TableColumn(name: "Current", type: "integer"),
                TableColumn(name: "Ready", type: "integer"), TableColumn(name: "Up-to-date", type: "integer"),
                TableColumn(name: "Available", type: "integer"), TableColumn(name: "Node Selector"), age,
                TableColumn(name: "Containers", priority: 1), TableColumn(name: "Images", priority: 1),
                TableColumn(name: "Selector", priority: 1)]
    }

    static func daemonSetCells(_ ds: DaemonSet, name: JSONValue, age: JSONValue) -> [JSONValue] {
        let s = ds.status
        let selector = (try? labelSelector(from: ds.spec.json["selector"]))?.description ?? ""
        return [name, .int(s.desiredNumberScheduled ?? 0), .int(s.currentNumberScheduled ?? 0), .int(s.numberReady ?? 0),
                .int(s.updatedNumberScheduled ?? 0), .int(s.numberAvailable ?? 0),
                .string(selectorString(ds.spec.template.spec.nodeSelector)), age]
            + containerCells(ds.spec.template.spec) + [.string(selector.isEmpty ? "<none>" : selector)]
    }

    static func controllerRevisionCells(_ r: ControllerRevision, name: JSONValue, age: JSONValue) -> [JSONValue] {
        let owner = r.controllerRef.map { ref in
            (ref.kind ?? "").lowercased() + "." + (ref.apiVersion ?? "").split(separator: "/").first.map(String.init)! + "/" + (ref.name ?? "")
        } ?? "<none>"
        return [name, .string(owner), .int(r.revision ?? 0), age]
    }

    static func statefulSetCells(_ set: StatefulSet, name: JSONValue, age: JSONValue) -> [JSONValue] {
        [name, .string("\(set.status.readyReplicas ?? 0)/\(set.spec.replicas ?? 1)"), age] + containerCells(set.spec.template.spec)
    }
}
