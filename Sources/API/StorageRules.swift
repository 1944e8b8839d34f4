// core/v1 PersistentVolume and PersistentVolumeClaim, storage.k8s.io/v1 StorageClass: defaults
// and validation as kube-apiserver applies them, plus the names the storage controllers, the
// scheduler and the local-path provisioner share (annotations, finalizers, the default class).

public enum StorageRules {
    static let accessModes = ["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"]

    /// Finalizers the API server puts on new claims and volumes (StorageObjectInUseProtection):
    /// a claim a pod uses, or a volume bound to a claim, is not removed until that ends.
    public static let claimProtectionFinalizer = "kubernetes.io/pvc-protection"
    public static let volumeProtectionFinalizer = "kubernetes.io/pv-protection"
    /// The class claims without storageClassName get, when it exists.
    public static let defaultClassAnnotation = "storageclass.kubernetes.io/is-default-class"
    public static let betaDefaultClassAnnotation = "storageclass.beta.kubernetes.io/is-default-class"
    /// Set by the PV controller on a claim that waits for a dynamic provisioner.
    public static let provisionerAnnotation = "volume.kubernetes.io/storage-provisioner"
    public static let betaProvisionerAnnotation = "volume.beta.kubernetes.io/storage-provisioner"
    /// The node a WaitForFirstConsumer claim's volume must be provisioned on (the scheduler's choice).
    public static let selectedNodeAnnotation = "volume.kubernetes.io/selected-node"
    public static let provisionedByAnnotation = "pv.kubernetes.io/provisioned-by"
    public static let bindCompletedAnnotation = "pv.kubernetes.io/bind-completed"
    public static let boundByControllerAnnotation = "pv.kubernetes.io/bound-by-controller"
    /// Skiff's built-in provisioner and the default class that uses it.
    public static let localPathProvisioner = "skiff.io/local-path"
    public static let localPathClassName = "local-path"

    /// The default StorageClass a master creates when none by that name exists.
    public static var localPathClass: StorageClass {
        var sc = StorageClass()
        sc.metadata.name = localPathClassName
        sc.metadata.annotations = [defaultClassAnnotation: "true"]
        sc.provisioner = localPathProvisioner
        sc.reclaimPolicy = .delete
        sc.volumeBindingMode = .waitForFirstConsumer
        sc.allowVolumeExpansion = true
        return sc
    }

    public static func isDefaultClass(_ sc: StorageClass) -> Bool {
        let a = sc.metadata.annotations ?? [:]
        return a[defaultClassAnnotation] == "true" || a[betaDefaultClassAnnotation] == "true"
    }

    // MARK: PersistentVolumeClaim

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
            let n = PersistentVolumeClaim(json: new), o = PersistentVolumeClaim(json: old)
            var errs: [FieldError] = []
            // The spec is immutable once created, except a larger storage request (expansion)
            // and the binder filling in volumeName (and, before binding, the class).
            var ns = n.spec, os = o.spec
            ns.resources.requests = nil
            os.resources.requests = nil
            if os.volumeName == nil || os.volumeName == "" { ns.volumeName = nil; os.volumeName = nil }
            if os.storageClassName == nil, o.spec.volumeName == nil { ns.storageClassName = nil }
            if ns.json != os.json {
                errs.append(FieldError(.forbidden, field: "spec", detail: "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"))
            }
            if let newSize = VolumeMatching.requestedBytes(n), let oldSize = VolumeMatching.requestedBytes(o),
               newSize < oldSize, o.status.phase == "Bound" {
                errs.append(FieldError(.forbidden, field: "spec.resources.requests.storage", value: n.spec.resources.requests?["storage"] ?? "",
                                       detail: "field can not be less than status.capacity"))
            }
            return errs
        }
        s.selectableFields = { o in ["spec.volumeName": PersistentVolumeClaim(json: o).spec.volumeName ?? ""] }
        s.selectableFieldNames = ["spec.volumeName"]
        return s
    }()

    static func validateClaimSpec(_ spec: PersistentVolumeClaimSpec, path: String) -> [FieldError] {
        var errs = validateAccessModes(spec.accessModes ?? [], path: "\(path).accessModes")
        if let storage = spec.resources.requests?["storage"] {
            if let q = try? Quantity(parsing: storage) {
                if q.value <= 0 { errs.append(FieldError(.invalid, field: "\(path).resources.requests[storage]", value: storage, detail: "must be greater than zero")) }
            } else {
                errs.append(quantityError("\(path).resources.requests[storage]", storage))
            }
        } else {
            errs.append(FieldError(.required, field: "\(path).resources[storage]", detail: ""))
        }
        if let mode = spec.volumeMode, mode != "Filesystem", mode != "Block" {
            errs.append(FieldError(.notSupported, field: "\(path).volumeMode", value: mode, detail: "supported values: \"Block\", \"Filesystem\""))
        }
        return errs
    }

    static func validateAccessModes(_ modes: [String], path: String) -> [FieldError] {
        var errs: [FieldError] = []
        if modes.isEmpty { errs.append(FieldError(.required, field: path, detail: "at least 1 access mode is required")) }
        for m in modes where !accessModes.contains(m) {
            errs.append(FieldError(.notSupported, field: path, value: m, detail: "supported values: " + accessModes.map { "\"\($0)\"" }.joined(separator: ", ")))
        }
        if modes.contains("ReadWriteOncePod") && modes.count > 1 {
            errs.append(FieldError(.forbidden, field: path, detail: "may not use ReadWriteOncePod with other access modes"))
        }
        return errs
    }

    static func quantityError(_ field: String, _ value: String) -> FieldError {
        FieldError(.invalid, field: field, value: value, detail: "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
    }

    // MARK: PersistentVolume

    public static let persistentVolume: ResourceStrategy = {
        var s = ResourceStrategy()
        s.hasStatus = true
        s.applyDefaults = { o in
            var pv = PersistentVolume(json: o)
            if pv.spec.reclaimPolicy == nil { pv.spec.reclaimPolicy = .retain }
            if pv.spec.volumeMode == nil { pv.spec.volumeMode = "Filesystem" }
            if pv.status.phase == nil { pv.status.phase = .pending }
            o = pv.json
        }
        s.validate = { o in validateVolume(PersistentVolume(json: o)) }
        s.validateUpdate = { new, old in
            let n = PersistentVolume(json: new), o = PersistentVolume(json: old)
            var errs: [FieldError] = []
            // The volume source is immutable (a bound claim's data is there); capacity, claimRef,
            // class, reclaim policy and mount options may change.
            for (field, a, b) in [("spec.hostPath", n.spec.hostPath.json, o.spec.hostPath.json), ("spec.local", n.spec.local.json, o.spec.local.json),
                                  ("spec.csi", n.spec.csi.json, o.spec.csi.json), ("spec.nfs", n.spec.nfs.json, o.spec.nfs.json)] where a != b {
                errs.append(FieldError(.forbidden, field: field, detail: "spec.persistentvolumesource is forbidden to be changed"))
            }
            if n.spec.volumeMode != o.spec.volumeMode {
                errs.append(FieldError(.invalid, field: "spec.volumeMode", value: n.spec.volumeMode ?? "", detail: "field is immutable"))
            }
            if o.spec.nodeAffinity.isSet, n.spec.nodeAffinity.json != o.spec.nodeAffinity.json {
                errs.append(FieldError(.invalid, field: "spec.nodeAffinity", detail: "field is immutable"))
            }
            return errs
        }
        s.selectableFields = { o in ["status.phase": PersistentVolume(json: o).status.phase?.rawValue ?? ""] }
        s.selectableFieldNames = ["status.phase"]
        return s
    }()

    static func validateVolume(_ pv: PersistentVolume) -> [FieldError] {
        let spec = pv.spec
        var errs = validateAccessModes(spec.accessModes ?? [], path: "spec.accessModes")
        if let storage = spec.capacity?["storage"] {
            if (try? Quantity(parsing: storage)) == nil { errs.append(quantityError("spec.capacity[storage]", storage)) }
        } else {
            errs.append(FieldError(.required, field: "spec.capacity", detail: ""))
        }
        var sources: [String] = []
        if spec.hostPath.isSet {
            sources.append("hostPath")
            errs += validateVolumePath(spec.hostPath.path, field: "spec.hostPath.path")
            let types = ["", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice", "BlockDevice"]
            if let t = spec.hostPath.type, !types.contains(t) {
                errs.append(FieldError(.notSupported, field: "spec.hostPath.type", value: t, detail: "supported values: " + types.dropFirst().map { "\"\($0)\"" }.joined(separator: ", ")))
            }
        }
        if spec.local.isSet {
            sources.append("local")
            errs += validateVolumePath(spec.local.path, field: "spec.local.path")
            if spec.nodeAffinity.required.nodeSelectorTerms.isEmpty {
                errs.append(FieldError(.required, field: "spec.nodeAffinity", detail: "Local volumes require node affinity"))
            }
        }
        if spec.csi.isSet { sources.append("csi") }
        if spec.nfs.isSet { sources.append("nfs") }
        if sources.isEmpty { errs.append(FieldError(.required, field: "spec", detail: "must specify a volume type")) }
        if sources.count > 1 { errs.append(FieldError(.forbidden, field: "spec." + sources[1], detail: "may not specify more than 1 volume type")) }
        if let policy = spec.reclaimPolicy, case .other(let v) = policy {
            errs.append(FieldError(.notSupported, field: "spec.persistentVolumeReclaimPolicy", value: v, detail: "supported values: \"Delete\", \"Recycle\", \"Retain\""))
        }
        if let terms = !spec.nodeAffinity.isSet ? nil : spec.nodeAffinity.required.nodeSelectorTerms, terms.isEmpty {
            errs.append(FieldError(.required, field: "spec.nodeAffinity.required.nodeSelectorTerms", detail: "must have at least one node selector term"))
        }
        return errs
    }

    /// An absolute path without "..": a volume may not point through its own parent.
    static func validateVolumePath(_ path: String?, field: String) -> [FieldError] {
        guard let path, !path.isEmpty else { return [FieldError(.required, field: field, detail: "")] }
        var errs: [FieldError] = []
        if !path.hasPrefix("/") { errs.append(FieldError(.invalid, field: field, value: path, detail: "must be an absolute path")) }
        if path.split(separator: "/").contains("..") { errs.append(FieldError(.invalid, field: field, value: path, detail: "must not contain '..'")) }
        return errs
    }

    // MARK: StorageClass

    public static let storageClass: ResourceStrategy = {
        var s = ResourceStrategy()
        s.applyDefaults = { o in
            var sc = StorageClass(json: o)
            if sc.reclaimPolicy == nil { sc.reclaimPolicy = .delete }
            if sc.volumeBindingMode == nil { sc.volumeBindingMode = .immediate }
            o = sc.json
        }
        s.validate = { o in
            let sc = StorageClass(json: o)
            var errs: [FieldError] = []
            if (sc.provisioner ?? "").isEmpty { errs.append(FieldError(.required, field: "provisioner", detail: "")) }
            if let p = sc.reclaimPolicy, p != .delete, p != .retain {
                errs.append(FieldError(.notSupported, field: "reclaimPolicy", value: p.rawValue, detail: "supported values: \"Delete\", \"Retain\""))
            }
            if case .other(let m)? = sc.volumeBindingMode {
                errs.append(FieldError(.notSupported, field: "volumeBindingMode", value: m, detail: "supported values: \"Immediate\", \"WaitForFirstConsumer\""))
            }
            return errs
        }
        s.validateUpdate = { new, old in
            let n = StorageClass(json: new), o = StorageClass(json: old)
            var errs: [FieldError] = []
            if n.provisioner != o.provisioner { errs.append(FieldError(.forbidden, field: "provisioner", detail: "updates to provisioner are forbidden.")) }
            if n.parameters != o.parameters { errs.append(FieldError(.forbidden, field: "parameters", detail: "updates to parameters are forbidden.")) }
            if n.reclaimPolicy != o.reclaimPolicy { errs.append(FieldError(.forbidden, field: "reclaimPolicy", detail: "updates to reclaimPolicy are forbidden.")) }
            if n.volumeBindingMode != o.volumeBindingMode { errs.append(FieldError(.forbidden, field: "volumeBindingMode", detail: "field is immutable")) }
            return errs
        }
        return s
    }()
}
