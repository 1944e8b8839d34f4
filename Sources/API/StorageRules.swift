// core/v1 PersistentVolumeClaim: served so StatefulSets can create the claims their
// volumeClaimTemplates ask for. Claims are validated and stay Pending: nothing provisions or
// binds volumes yet.

public enum StorageRules {
    static let accessModes = ["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"]

    public static let persistentVolumeClaim: ResourceStrategy = {
        var s = ResourceStrategy()
        s.hasStatus = true
        s.applyDefaults = { o in
            var claim = PersistentVolumeClaim(json: o)
            if claim.spec.volumeMode == nil { claim.spec.volumeMode = "Filesystem" }
            if claim.status.phase == nil { claim.status.phase = "Pending" }
            o = claim.json
        }
        s.validate = { o in validateClaimSpec(PersistentVolumeClaim(json: o).spec, path: "spec") }
        s.validateUpdate = { new, old in
            // The spec is immutable once created, except a larger storage request (expansion).
            var n = PersistentVolumeClaim(json: new).spec, o = PersistentVolumeClaim(json: old).spec
            n.resources.requests = nil
            o.resources.requests = nil
            return n.json == o.json ? [] : [FieldError(.forbidden, field: "spec", detail: "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims")]
        }
        return s
    }()

    static func validateClaimSpec(_ spec: PersistentVolumeClaimSpec, path: String) -> [FieldError] {
        var errs: [FieldError] = []
        let modes = spec.accessModes ?? []
        if modes.isEmpty { errs.append(FieldError(.required, field: "\(path).accessModes", detail: "at least 1 access mode is required")) }
        for m in modes where !accessModes.contains(m) {
            errs.append(FieldError(.notSupported, field: "\(path).accessModes", value: m, detail: "supported values: " + accessModes.map { "\"\($0)\"" }.joined(separator: ", ")))
        }
        if let storage = spec.resources.requests?["storage"] {
            if (try? Quantity(parsing: storage)) == nil {
                errs.append(FieldError(.invalid, field: "\(path).resources.requests[storage]", value: storage, detail: "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"))
            }
        } else {
            errs.append(FieldError(.required, field: "\(path).resources[storage]", detail: ""))
        }
        return errs
    }
}
