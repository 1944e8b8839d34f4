// Namespaces, Nodes, Events, Leases, ConfigMaps and Secrets: small rules each.
import Foundation

public enum ClusterRules {
    public static let namespace: ResourceStrategy = {
        var s = ResourceStrategy()
        s.hasStatus = true
        s.nameRule = NameValidation.dns1123Label
        s.applyDefaults = { ns in
            withChild(&ns, "spec", create: true) { setDefault(&$0, ["finalizers"], ["kubernetes"]) }
            withChild(&ns, "status", create: true) { setDefault(&$0, ["phase"], "Active") }
        }
        s.selectableFieldNames = ["status.phase"]
        s.selectableFields = { ["status.phase": $0["status"]?["phase"]?.stringValue ?? ""] }
        return s
    }()

    public static let node: ResourceStrategy = {
        var s = ResourceStrategy()
        s.hasStatus = true
        s.selectableFieldNames = ["spec.unschedulable"]
        s.selectableFields = { ["spec.unschedulable": ($0["spec"]?["unschedulable"]?.boolValue ?? false) ? "true" : "false"] }
        s.validate = { node in
            var errs: [FieldError] = []
            for (i, t) in (node["spec"]?["taints"]?.arrayValue ?? []).enumerated() {
                let path = "spec.taints[\(i)]"
                if let key = requireString(t, "key", path: path, into: &errs) { errs += NameValidation.qualifiedName(key, field: path + ".key") }
                checkOneOf(t, "effect", path: path, ["NoExecute", "NoSchedule", "PreferNoSchedule"], into: &errs)
            }
            return errs
        }
        return s
    }()

    public static let event: ResourceStrategy = {
        var s = ResourceStrategy()
        s.selectableFieldNames = ["involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
                                  "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
                                  "reason", "reportingComponent", "source", "type"]
        s.selectableFields = { e in
            var f: [String: String] = [:]
            for k in ["kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath"] {
                f["involvedObject." + k] = e["involvedObject"]?[k]?.stringValue ?? ""
            }
            f["reason"] = e["reason"]?.stringValue ?? ""
            f["reportingComponent"] = e["reportingComponent"]?.stringValue ?? ""
            f["source"] = e["source"]?["component"]?.stringValue ?? ""
            f["type"] = e["type"]?.stringValue ?? ""
            return f
        }
        s.applyDefaults = { e in setDefault(&e, ["type"], "Normal") }
        s.validate = { e in
            var errs: [FieldError] = []
            if e["involvedObject"] == nil { errs.append(FieldError(.required, field: "involvedObject", detail: "")) }
            return errs
        }
        return s
    }()

    public static let lease: ResourceStrategy = {
        var s = ResourceStrategy()
        s.validate = { l in
            var errs: [FieldError] = []
            checkNonNegative(l["spec"] ?? .null, "leaseDurationSeconds", path: "spec", into: &errs)
            checkNonNegative(l["spec"] ?? .null, "leaseTransitions", path: "spec", into: &errs)
            return errs
        }
        return s
    }()
}

public enum ConfigRules {
    /// ConfigMap and Secret keys: [-._a-zA-Z0-9]+, at most 253 characters.
    static func validateKeys(_ map: JSONValue?, path: String) -> [FieldError] {
        var errs: [FieldError] = []
        for (k, _) in map?.objectValue ?? JSONObject() {
            let ok = !k.isEmpty && k.utf8.count <= 253 && k != "." && k != ".." &&
                k.utf8.allSatisfy { NameValidation.isAlnum($0) || $0 == 45 || $0 == 46 || $0 == 95 }
            if !ok {
                errs.append(FieldError(.invalid, field: "\(path)[\(k)]", value: k, detail: "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"))
            }
        }
        return errs
    }

    public static let configMap: ResourceStrategy = {
        var s = ResourceStrategy()
        s.validate = { cm in
            var errs = validateKeys(cm["data"], path: "data") + validateKeys(cm["binaryData"], path: "binaryData")
            for (k, v) in cm["data"]?.objectValue ?? JSONObject() where v.stringValue == nil {
                errs.append(FieldError(.invalid, field: "data[\(k)]", value: v.stringValue ?? v.jsonString, detail: "must be a string"))
            }
            return errs
        }
        return s
    }()

    public static let secret: ResourceStrategy = {
        var s = ResourceStrategy()
        s.selectableFieldNames = ["type"]
        s.selectableFields = { ["type": $0["type"]?.stringValue ?? ""] }
        s.applyDefaults = { secret in
            setDefault(&secret, ["type"], "Opaque")
            // stringData is write-only: it is folded into data (base64) and dropped, as Kubernetes does.
            if let sd = secret["stringData"]?.objectValue {
                var data = secret["data"]?.objectValue ?? JSONObject()
                for (k, v) in sd { if let text = v.stringValue { data[k] = .string(Data(text.utf8).base64EncodedString()) } }
                secret["data"] = .object(data)
                secret["stringData"] = nil
            }
        }
        s.validate = { secret in
            var errs = validateKeys(secret["data"], path: "data")
            for (k, v) in secret["data"]?.objectValue ?? JSONObject() {
                if v.stringValue.flatMap({ Data(base64Encoded: $0) }) == nil {
                    errs.append(FieldError(.invalid, field: "data[\(k)]", value: "<secret contents redacted>", detail: "must be base64-encoded"))
                }
            }
            return errs
        }
        return s
    }()
}
