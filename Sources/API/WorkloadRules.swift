// ReplicaSet, ReplicationController and Deployment: replicas, selectors that must match the
// template's labels, rollout strategy defaults, and the pod template rules.

public enum WorkloadRules {
    static func base() -> ResourceStrategy {
        var s = ResourceStrategy()
        s.hasStatus = true
        s.tracksGeneration = true
        s.selectableFieldNames = ["status.replicas"]
        s.selectableFields = { o in ["status.replicas": String(o["status"]?["replicas"]?.intValue ?? 0)] }
        return s
    }

    static func defaultTemplate(_ spec: inout JSONValue) {
        withChild(&spec, "template") { t in withChild(&t, "spec") { PodRules.defaultPodSpec(&$0) } }
    }

    /// `claimTemplateNames`: volumes a StatefulSet's volumeClaimTemplates add to every pod.
    static func validateCommon(_ o: JSONValue, selectorIsLabelSelector: Bool, claimTemplateNames: Set<String> = []) -> [FieldError] {
        guard let spec = o["spec"], case .object = spec else { return [FieldError(.required, field: "spec", detail: "")] }
        var errs: [FieldError] = []
        checkNonNegative(spec, "replicas", path: "spec", into: &errs)
        checkNonNegative(spec, "minReadySeconds", path: "spec", into: &errs)
        let templateLabels = spec["template"]?["metadata"]?["labels"]?.stringMap ?? [:]
        errs += validateLabelMap(spec["template"]?["metadata"]?["labels"], path: "spec.template.metadata.labels")
        if selectorIsLabelSelector {
            let sel = spec["selector"]
            let empty = sel == nil || sel!.isNull || ((sel?["matchLabels"]?.objectValue?.isEmpty ?? true) && (sel?["matchExpressions"]?.arrayValue?.isEmpty ?? true))
            if empty {
                errs.append(FieldError(.required, field: "spec.selector", detail: ""))
            } else {
                errs += validateLabelMap(sel?["matchLabels"], path: "spec.selector.matchLabels")
                do {
                    if !(try labelSelector(from: sel)).matches(templateLabels) {
                        errs.append(FieldError(.invalid, field: "spec.template.metadata.labels", value: labelString(templateLabels),
                                               detail: "`selector` does not match template `labels`"))
                    }
                } catch let e as FieldError { errs.append(e) } catch {}
            }
        } else if let sel = spec["selector"]?.stringMap, !sel.isEmpty {
            if !sel.allSatisfy({ templateLabels[$0.key] == $0.value }) {
                errs.append(FieldError(.invalid, field: "spec.template.metadata.labels", value: labelString(templateLabels),
                                       detail: "`selector` does not match template `labels`"))
            }
        }
        if let template = spec["template"], !template.isNull {
            errs += PodRules.validatePodSpec(template["spec"], path: "spec.template.spec", extraVolumes: claimTemplateNames)
            checkOneOf(template["spec"] ?? .null, "restartPolicy", path: "spec.template.spec", ["Always"], into: &errs)
        } else {
            errs.append(FieldError(.required, field: "spec.template", detail: ""))
        }
        return errs
    }

    static func labelString(_ labels: [String: String]) -> String {
        "map[" + labels.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: " ") + "]"
    }

    public static let replicaSet: ResourceStrategy = {
        var s = base()
        s.applyDefaults = { rs in
            withChild(&rs, "spec", create: true) { spec in
                setDefault(&spec, ["replicas"], 1)
                defaultTemplate(&spec)
            }
        }
        s.validate = { validateCommon($0, selectorIsLabelSelector: true) }
        s.validateUpdate = { new, old in immutableSelector(new, old) }
        return s
    }()

    public static let replicationController: ResourceStrategy = {
        var s = base()
        s.applyDefaults = { rc in
            withChild(&rc, "spec", create: true) { spec in
                setDefault(&spec, ["replicas"], 1)
                // An RC without a selector selects its template's labels (and labels itself the same).
                if let labels = spec["template"]?["metadata"]?["labels"], spec["selector"] == nil || spec["selector"]!.isNull {
                    spec["selector"] = labels
                }
                defaultTemplate(&spec)
            }
            if let labels = rc["spec"]?["template"]?["metadata"]?["labels"] {
                withChild(&rc, "metadata", create: true) { setDefault(&$0, ["labels"], labels) }
            }
        }
        s.validate = { validateCommon($0, selectorIsLabelSelector: false) }
        return s
    }()

    public static let deployment: ResourceStrategy = {
        var s = base()
        s.applyDefaults = { d in
            withChild(&d, "spec", create: true) { spec in
                setDefault(&spec, ["replicas"], 1)
                setDefault(&spec, ["revisionHistoryLimit"], 10)
                setDefault(&spec, ["progressDeadlineSeconds"], 600)
                setDefault(&spec, ["strategy", "type"], "RollingUpdate")
                if spec["strategy"]?["type"]?.stringValue == "RollingUpdate" {
                    setDefault(&spec, ["strategy", "rollingUpdate", "maxUnavailable"], "25%")
                    setDefault(&spec, ["strategy", "rollingUpdate", "maxSurge"], "25%")
                }
                defaultTemplate(&spec)
            }
        }
        s.validate = { d in
            var errs = validateCommon(d, selectorIsLabelSelector: true)
            checkOneOf(d["spec"] ?? .null, "type", path: "spec.strategy", ["Recreate", "RollingUpdate"], into: &errs)
            return errs
        }
        s.validateUpdate = { new, old in immutableSelector(new, old) }
        return s
    }()

    /// apps/v1 selectors are immutable after creation.
    static func immutableSelector(_ new: JSONValue, _ old: JSONValue) -> [FieldError] {
        guard let o = old["spec"]?["selector"], let n = new["spec"]?["selector"], o != n else { return [] }
        return [FieldError(.invalid, field: "spec.selector", value: n.jsonString, detail: "field is immutable")]
    }
}
