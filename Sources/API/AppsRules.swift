// apps/v1 DaemonSet, StatefulSet and ControllerRevision: defaults (RollingUpdate with
// maxUnavailable 1 and maxSurge 0 or partition 0, OrderedReady, revisionHistoryLimit 10, Retain),
// validation and the fields that cannot change. ReplicaSet and Deployment live in WorkloadRules.swift.

public enum AppsRules {
    /// The label a workload's pods and revisions carry: the hash of the template they came from.
    public static let revisionHashLabel = "controller-revision-hash"

    public static let daemonSet: ResourceStrategy = {
        var s = WorkloadRules.base()
        s.selectableFieldNames = []
        s.selectableFields = { _ in [:] }
        s.applyDefaults = { o in
            var ds = DaemonSet(json: o)
            if ds.spec.updateStrategy.type == nil { ds.spec.updateStrategy.type = .rollingUpdate }
            if ds.spec.updateStrategy.type == .rollingUpdate {
                if ds.spec.updateStrategy.rollingUpdate.maxUnavailable == nil { ds.spec.updateStrategy.rollingUpdate.maxUnavailable = .int(1) }
                if ds.spec.updateStrategy.rollingUpdate.maxSurge == nil { ds.spec.updateStrategy.rollingUpdate.maxSurge = .int(0) }
            }
            if ds.spec.revisionHistoryLimit == nil { ds.spec.revisionHistoryLimit = 10 }
            withChild(&ds.spec.template.json, "spec") { PodRules.defaultPodSpec(&$0) }
            o = ds.json
        }
        s.validate = { o in
            var errs = WorkloadRules.validateCommon(o, selectorIsLabelSelector: true)
            let strategy = DaemonSet(json: o).spec.updateStrategy
            checkOneOf(strategy.json, "type", path: "spec.updateStrategy", ["RollingUpdate", "OnDelete"], into: &errs)
            if strategy.type == .rollingUpdate {
                errs += validateRollingUpdate(strategy.rollingUpdate, path: "spec.updateStrategy.rollingUpdate")
            }
            return errs
        }
        s.validateUpdate = { new, old in WorkloadRules.immutableSelector(new, old) }
        return s
    }()

    /// The labels a StatefulSet's pods carry besides the template's.
    public static let podNameLabel = "statefulset.kubernetes.io/pod-name"
    public static let podIndexLabel = "apps.kubernetes.io/pod-index"

    public static let statefulSet: ResourceStrategy = {
        var s = WorkloadRules.base()
        s.applyDefaults = { o in
            var sts = StatefulSet(json: o)
            if sts.spec.replicas == nil { sts.spec.replicas = 1 }
            if sts.spec.podManagementPolicy == nil { sts.spec.podManagementPolicy = .orderedReady }
            if sts.spec.updateStrategy.type == nil { sts.spec.updateStrategy.type = .rollingUpdate }
            if sts.spec.updateStrategy.type == .rollingUpdate, sts.spec.updateStrategy.rollingUpdate.partition == nil {
                sts.spec.updateStrategy.rollingUpdate.partition = 0
            }
            if sts.spec.revisionHistoryLimit == nil { sts.spec.revisionHistoryLimit = 10 }
            if sts.spec.persistentVolumeClaimRetentionPolicy.whenDeleted == nil { sts.spec.persistentVolumeClaimRetentionPolicy.whenDeleted = "Retain" }
            if sts.spec.persistentVolumeClaimRetentionPolicy.whenScaled == nil { sts.spec.persistentVolumeClaimRetentionPolicy.whenScaled = "Retain" }
            sts.spec.volumeClaimTemplates = sts.spec.volumeClaimTemplates.map { claim in
                var claim = claim
                if claim.spec.volumeMode == nil { claim.spec.volumeMode = "Filesystem" }
                return claim
            }
            withChild(&sts.spec.template.json, "spec") { PodRules.defaultPodSpec(&$0) }
            o = sts.json
        }
        s.validate = { o in
            let spec = StatefulSet(json: o).spec
            let claimNames = Set(spec.volumeClaimTemplates.compactMap(\.metadata.name))
            var errs = WorkloadRules.validateCommon(o, selectorIsLabelSelector: true, claimTemplateNames: claimNames)
            checkOneOf(spec.json, "podManagementPolicy", path: "spec", ["OrderedReady", "Parallel"], into: &errs)
            checkOneOf(spec.updateStrategy.json, "type", path: "spec.updateStrategy", ["RollingUpdate", "OnDelete"], into: &errs)
            checkNonNegative(spec.updateStrategy.rollingUpdate.json, "partition", path: "spec.updateStrategy.rollingUpdate", into: &errs)
            checkNonNegative(spec.ordinals.json, "start", path: "spec.ordinals", into: &errs)
            for key in ["whenDeleted", "whenScaled"] {
                checkOneOf(spec.persistentVolumeClaimRetentionPolicy.json, key, path: "spec.persistentVolumeClaimRetentionPolicy", ["Retain", "Delete"], into: &errs)
            }
            for (i, claim) in spec.volumeClaimTemplates.enumerated() {
                errs += NameValidation.dns1123Subdomain(claim.metadata.name ?? "", field: "spec.volumeClaimTemplates[\(i)].metadata.name")
                errs += StorageRules.validateClaimSpec(claim.spec, path: "spec.volumeClaimTemplates[\(i)].spec")
            }
            return errs
        }
        s.validateUpdate = { new, old in
            // Only these may change after creation, as in Kubernetes.
            var n = StatefulSet(json: new).spec, o = StatefulSet(json: old).spec
            for key in ["replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy", "minReadySeconds"] {
                n.json.put(key, nil)
                o.json.put(key, nil)
            }
            guard n.json != o.json else { return [] }
            return [FieldError(.forbidden, field: "spec", detail: "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")]
        }
        return s
    }()

    public static let controllerRevision: ResourceStrategy = {
        var s = ResourceStrategy()
        s.validate = { o in
            var errs: [FieldError] = []
            let revision = ControllerRevision(json: o)
            if revision.data == nil { errs.append(FieldError(.required, field: "data", detail: "")) }
            if let r = revision.revision, r < 0 {
                errs.append(FieldError(.invalid, field: "revision", value: String(r), detail: "must be greater than or equal to 0", rawValue: true))
            }
            return errs
        }
        s.validateUpdate = { new, old in
            new["data"] == old["data"] ? [] : [FieldError(.invalid, field: "data", value: "", detail: "field is immutable")]
        }
        return s
    }()

    /// maxUnavailable and maxSurge: integers or percentages, not both zero.
    static func validateRollingUpdate(_ r: RollingUpdateDaemonSet, path: String) -> [FieldError] {
        var errs: [FieldError] = []
        func value(_ v: IntOrString?, _ field: String) -> Int64? {
            guard let v else { return nil }
            guard let n = v.scaled(total: 100, roundUp: true) else {
                errs.append(FieldError(.invalid, field: "\(path).\(field)", value: "\(v)", detail: "a valid percent string must be a numeric string followed by an ending '%'"))
                return nil
            }
            if n < 0 { errs.append(FieldError(.invalid, field: "\(path).\(field)", value: "\(n)", detail: "must be greater than or equal to 0")) }
            if case .string = v, n > 100 { errs.append(FieldError(.invalid, field: "\(path).\(field)", value: "\(v)", detail: "must not be greater than 100%")) }
            return n
        }
        let unavailable = value(r.maxUnavailable, "maxUnavailable"), surge = value(r.maxSurge, "maxSurge")
        if unavailable == 0 && (surge ?? 0) == 0 {
            errs.append(FieldError(.invalid, field: "\(path).maxUnavailable", value: "0", detail: "may not be 0 when `maxSurge` is 0", rawValue: true))
        }
        return errs
    }
}
