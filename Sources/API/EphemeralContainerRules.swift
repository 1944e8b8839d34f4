// Ephemeral containers (spec.ephemeralContainers, written through pods/ephemeralcontainers), as
// upstream validates them: a debugging container sets no ports, probes, lifecycle, resources or
// restart policy and mounts no subPath; its name is unique among all of the pod's containers;
// targetContainerName names one of the pod's other containers; and one added is never changed
// or removed.

extension PodRules {
    /// Container fields an ephemeral container may not set (upstream's allow-list, inverted).
    static let fieldsNotForEphemeral = ["ports", "livenessProbe", "readinessProbe", "startupProbe", "lifecycle",
                                        "resources", "resizePolicy", "restartPolicy"]

    /// `names`: the pod's other containers' names (and, on return, these too).
    static func validateEphemeralContainers(_ spec: JSONValue, path: String, names: inout Set<String>, volumes: Set<String>) -> [FieldError] {
        let targets = names
        var errs: [FieldError] = []
        for (i, c) in (spec["ephemeralContainers"]?.arrayValue ?? []).enumerated() {
            let p = "\(path).ephemeralContainers[\(i)]"
            errs += validateContainer(c, path: p, names: &names, volumes: volumes)
            guard case .object = c else { continue }
            for key in fieldsNotForEphemeral where !isEmpty(c[key]) {
                errs.append(FieldError(.forbidden, field: "\(p).\(key)", detail: "cannot be set for an Ephemeral Container"))
            }
            for (j, m) in (c["volumeMounts"]?.arrayValue ?? []).enumerated() {
                for key in ["subPath", "subPathExpr"] where !(m[key]?.stringValue ?? "").isEmpty {
                    errs.append(FieldError(.forbidden, field: "\(p).volumeMounts[\(j)].\(key)", detail: "cannot be set for an Ephemeral Container"))
                }
            }
            if let target = c["targetContainerName"]?.stringValue, !target.isEmpty, !targets.contains(target) {
                errs.append(FieldError(.notFound, field: "\(p).targetContainerName", value: target, detail: ""))
            }
        }
        return errs
    }

    /// An update keeps every ephemeral container already there, unchanged.
    static func validateEphemeralContainersUpdate(_ new: JSONValue, _ old: JSONValue) -> [FieldError] {
        let current = new["spec"]?["ephemeralContainers"]?.arrayValue ?? []
        var errs: [FieldError] = []
        for before in old["spec"]?["ephemeralContainers"]?.arrayValue ?? [] {
            let name = before["name"]?.stringValue ?? ""
            guard let i = current.firstIndex(where: { $0["name"]?.stringValue == name }) else {
                errs.append(FieldError(.forbidden, field: "spec.ephemeralContainers", detail: "existing ephemeral containers \"\(name)\" may not be removed"))
                continue
            }
            if current[i] != before {
                errs.append(FieldError(.forbidden, field: "spec.ephemeralContainers[\(i)]", detail: "existing ephemeral containers \"\(name)\" may not be changed"))
            }
        }
        return errs
    }

    /// Unset, null, {} and [] are all "not set" (a client sends `resources: {}` for none).
    private static func isEmpty(_ v: JSONValue?) -> Bool {
        switch v {
        case nil, .null?: return true
        case .object(let o)?: return o.isEmpty
        case .array(let a)?: return a.isEmpty
        case .string(let s)?: return s.isEmpty
        default: return false
        }
    }
}
