// `kubectl get` columns for persistentvolumeclaims, persistentvolumes and storageclasses, as
// Kubernetes prints them.
import API
import Foundation

extension Tables {
    static func storageColumns(_ kind: String, name: TableColumn, age: TableColumn) -> [TableColumn] {
        switch kind {
        case "PersistentVolume":
            return [name, TableColumn(name: "Capacity"), TableColumn(name: "Access Modes"), TableColumn(name: "Reclaim Policy"),
                    TableColumn(name: "Status"), TableColumn(name: "Claim"), TableColumn(name: "StorageClass"),
                    TableColumn(name: "VolumeAttributesClass"), TableColumn(name: "Reason"), age, TableColumn(name: "VolumeMode", priority: 1)]
        case "StorageClass":
            return [name, TableColumn(name: "Provisioner"), TableColumn(name: "ReclaimPolicy"), TableColumn(name: "VolumeBindingMode"),
                    TableColumn(name: "AllowVolumeExpansion"), age]
        default:
            return [name, TableColumn(name: "Status"), TableColumn(name: "Volume"), TableColumn(name: "Capacity"),
                    TableColumn(name: "Access Modes"), TableColumn(name: "StorageClass"), TableColumn(name: "VolumeAttributesClass"), age,
                    TableColumn(name: "VolumeMode", priority: 1)]
        }
    }

    /// RWO, ROX, RWX, RWOP as kubectl abbreviates them.
    static func accessModesCell(_ modes: [String]?) -> JSONValue {
        let short = ["ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"]
        return .string((modes ?? []).map { short[$0] ?? $0 }.joined(separator: ","))
    }

    static func claimCells(_ claim: PersistentVolumeClaim, name: JSONValue, age: JSONValue) -> [JSONValue] {
        [name, .string(claim.isBeingDeleted ? "Terminating" : claim.status.phase ?? "Pending"), .string(claim.spec.volumeName ?? ""),
         .string(claim.status.capacity?["storage"] ?? ""), accessModesCell(claim.status.accessModes), .string(claim.spec.storageClassName ?? "<unset>"),
         .string(claim.spec.volumeAttributesClassName ?? "<unset>"), age, .string(claim.spec.volumeMode ?? "Filesystem")]
    }

    static func volumeCells(_ pv: PersistentVolume, name: JSONValue, age: JSONValue) -> [JSONValue] {
        let ref = pv.spec.claimRef
        let claim = ref.name.map { (ref.namespace ?? "") + "/" + $0 } ?? ""
        let phase = pv.isBeingDeleted ? "Terminating" : pv.status.phase?.rawValue ?? "Pending"
        return [name, .string(pv.spec.capacity?["storage"] ?? ""), accessModesCell(pv.spec.accessModes),
                .string(pv.spec.reclaimPolicy?.rawValue ?? "Retain"), .string(phase), .string(claim),
                .string(pv.spec.storageClassName ?? ""), .string("<unset>"), .string(pv.status.reason ?? ""), age,
                .string(pv.spec.volumeMode ?? "Filesystem")]
    }

    static func storageClassCells(_ sc: StorageClass, name: JSONValue, age: JSONValue) -> [JSONValue] {
        let shown = StorageRules.isDefaultClass(sc) ? JSONValue.string((sc.metadata.name ?? "") + " (default)") : name
        return [shown, .string(sc.provisioner ?? ""), .string(sc.reclaimPolicy?.rawValue ?? "Delete"),
                .string(sc.volumeBindingMode?.rawValue ?? "Immediate"), .string(sc.allowVolumeExpansion == true ? "true" : "false"), age]
    }
}
