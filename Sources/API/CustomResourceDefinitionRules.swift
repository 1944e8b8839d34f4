// apiextensions.k8s.io/v1 CustomResourceDefinition: defaulting, validation as
// apiextensions-apiserver words it, and the status a definition gets once its names are
// accepted (NamesAccepted and Established at once: one server, no name controller to wait for).

public enum CustomResourceDefinitionRules {
    public static let group = "apiextensions.k8s.io"
    /// Deleting a definition first deletes its objects; this finalizer holds it until then.
    public static let cleanupFinalizer = "customresourcecleanup.apiextensions.k8s.io"

    public static let strategy: ResourceStrategy = {
        var s = ResourceStrategy()
        s.hasStatus = true
        s.tracksGeneration = true
        s.applyDefaults = applyDefaults
        s.prepareForCreate = { crd in
            crd["status"] = initialStatus(crd)
            var finalizers = crd["metadata"]?["finalizers"]?.arrayValue ?? []
            if !finalizers.contains(.string(cleanupFinalizer)) { finalizers.append(.string(cleanupFinalizer)) }
            crd["metadata"]?["finalizers"] = .array(finalizers)
        }
        s.validate = validate
        s.validateUpdate = { new, old in
            let (scope, was) = (new["spec"]?["scope"]?.stringValue ?? "", old["spec"]?["scope"]?.stringValue ?? "")
            return scope == was ? [] : [FieldError(.invalid, field: "spec.scope", value: scope, detail: "field is immutable")]
        }
        return s
    }()

    static func applyDefaults(_ crd: inout JSONValue) {
        setDefault(&crd, ["spec", "conversion", "strategy"], "None")
        guard let kind = crd["spec"]?["names"]?["kind"]?.stringValue else { return }
        setDefault(&crd, ["spec", "names", "singular"], .string(kind.lowercased()))
        setDefault(&crd, ["spec", "names", "listKind"], .string(kind + "List"))
    }

    static func initialStatus(_ crd: JSONValue) -> JSONValue {
        let now = JSONValue.string(KubeTime.format())
        let storage = (crd["spec"]?["versions"]?.arrayValue ?? []).first { $0["storage"]?.boolValue == true }?["name"]
        return [
            "conditions": [
                ["type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now],
                ["type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                 "message": "the initial names have been accepted", "lastTransitionTime": now],
            ],
            "acceptedNames": crd["spec"]?["names"] ?? .object(JSONObject()),
            "storedVersions": .array(storage.map { [$0] } ?? []),
        ]
    }

    /// Groups Skiff serves itself: a definition may not add kinds to them.
    static var builtInGroups: Set<String> { Set(ResourceRegistry.all.map(\.group)) }

    static func validate(_ crd: JSONValue) -> [FieldError] {
        var errs: [FieldError] = []
        let spec = crd["spec"] ?? .null
        let name = crd["metadata"]?["name"]?.stringValue ?? ""
        let group = spec["group"]?.stringValue ?? ""
        let plural = spec["names"]?["plural"]?.stringValue ?? ""
        if group.isEmpty {
            errs.append(FieldError(.required, field: "spec.group", detail: ""))
        } else {
            errs += NameValidation.dns1123Subdomain(group, field: "spec.group")
            if !group.contains(".") { errs.append(FieldError(.invalid, field: "spec.group", value: group, detail: "should be a domain with at least one dot")) }
            if builtInGroups.contains(group) {
                errs.append(FieldError(.invalid, field: "spec.group", value: group,
                                       detail: "the group is served by the API server's built-in resources; a CustomResourceDefinition may not add to it"))
            }
        }
        if !plural.isEmpty, !group.isEmpty, name != "\(plural).\(group)" {
            errs.append(FieldError(.invalid, field: "metadata.name", value: name, detail: "must be spec.names.plural+\".\"+spec.group"))
        }
        let scope = spec["scope"]?.stringValue ?? ""
        if scope.isEmpty { errs.append(FieldError(.required, field: "spec.scope", detail: "")) }
        else if scope != "Namespaced" && scope != "Cluster" {
            errs.append(FieldError(.notSupported, field: "spec.scope", value: scope, detail: "supported values: \"Cluster\", \"Namespaced\""))
        }
        errs += validateNames(spec["names"] ?? .null)
        errs += validateVersions(spec["versions"]?.arrayValue ?? [])
        if let strategy = spec["conversion"]?["strategy"]?.stringValue, strategy != "None" {
            errs.append(FieldError(.notSupported, field: "spec.conversion.strategy", value: strategy,
                                   detail: "conversion webhooks are not supported by Skiff yet: supported values: \"None\""))
        }
        return errs
    }

    static func validateNames(_ names: JSONValue) -> [FieldError] {
        var errs: [FieldError] = []
        for key in ["plural", "singular"] {
            let value = names[key]?.stringValue ?? ""
            if value.isEmpty { errs.append(FieldError(.required, field: "spec.names.\(key)", detail: "")); continue }
            errs += NameValidation.dns1035Label(value, field: "spec.names.\(key)")
        }
        for (i, short) in (names["shortNames"]?.arrayValue ?? []).enumerated() {
            errs += NameValidation.dns1035Label(short.stringValue ?? "", field: "spec.names.shortNames[\(i)]")
        }
        for key in ["kind", "listKind"] {
            let value = names[key]?.stringValue ?? ""
            if value.isEmpty { errs.append(FieldError(.required, field: "spec.names.\(key)", detail: "")); continue }
            if value.first?.isLetter != true || value.contains(where: { !$0.isLetter && !$0.isNumber }) {
                errs.append(FieldError(.invalid, field: "spec.names.\(key)", value: value,
                                       detail: "may have mixed case, but should otherwise match: ^[a-z]([-a-z0-9]*[a-z0-9])?$"))
            }
        }
        return errs
    }

    static func validateVersions(_ versions: [JSONValue]) -> [FieldError] {
        var errs: [FieldError] = []
        if versions.isEmpty { return [FieldError(.required, field: "spec.versions", detail: "must have exactly one version marked as storage version")] }
        if versions.filter({ $0["storage"]?.boolValue == true }).count != 1 {
            errs.append(FieldError(.invalid, field: "spec.versions", value: versions.compactMap { $0["name"]?.stringValue }.joined(separator: ","),
                                   detail: "must have exactly one version marked as storage version"))
        }
        if !versions.contains(where: { $0["served"]?.boolValue == true }) {
            errs.append(FieldError(.invalid, field: "spec.versions", value: "", detail: "must have at least one version marked as served"))
        }
        var seen: Set<String> = []
        for (i, v) in versions.enumerated() {
            let path = "spec.versions[\(i)]"
            let name = v["name"]?.stringValue ?? ""
            if name.isEmpty { errs.append(FieldError(.required, field: path + ".name", detail: "")) }
            else {
                errs += NameValidation.dns1035Label(name, field: path + ".name")
                if !seen.insert(name).inserted { errs.append(FieldError(.duplicate, field: path + ".name", value: name, detail: "")) }
            }
            guard let schema = v["schema"]?["openAPIV3Schema"] else {
                errs.append(FieldError(.required, field: path + ".schema.openAPIV3Schema", detail: "schemas are required"))
                continue
            }
            var schemaErrors: [FieldError] = []
            let parsed = StructuralSchema.parse(schema, path: path + ".schema.openAPIV3Schema", errors: &schemaErrors)
            errs += schemaErrors
            errs += validatePatterns(parsed, path: path + ".schema.openAPIV3Schema")
            errs += validateScale(v["subresources"]?["scale"], path: path + ".subresources.scale")
        }
        return errs
    }

    static func validatePatterns(_ schema: StructuralSchema, path: String) -> [FieldError] {
        var errs: [FieldError] = []
        if let p = schema.pattern, !SchemaPatterns.compiles(p) {
            errs.append(FieldError(.invalid, field: path + ".pattern", value: p, detail: "must be a valid regular expression"))
        }
        for (name, sub) in schema.properties { errs += validatePatterns(sub, path: "\(path).properties[\(name)]") }
        if let items = schema.items { errs += validatePatterns(items, path: path + ".items") }
        if let map = schema.additionalProperties { errs += validatePatterns(map, path: path + ".additionalProperties") }
        return errs
    }

    static func validateScale(_ scale: JSONValue?, path: String) -> [FieldError] {
        guard let scale, !scale.isNull else { return [] }
        var errs: [FieldError] = []
        for (key, prefix) in [("specReplicasPath", ".spec."), ("statusReplicasPath", ".status.")] {
            let value = scale[key]?.stringValue ?? ""
            if value.isEmpty { errs.append(FieldError(.required, field: "\(path).\(key)", detail: "")) }
            else if !value.hasPrefix(prefix) {
                errs.append(FieldError(.invalid, field: "\(path).\(key)", value: value, detail: "should be a json path under \(prefix.dropLast())"))
            }
        }
        if let selector = scale["labelSelectorPath"]?.stringValue, !selector.hasPrefix(".spec.") && !selector.hasPrefix(".status.") {
            errs.append(FieldError(.invalid, field: path + ".labelSelectorPath", value: selector, detail: "should be a json path under either .spec or .status"))
        }
        return errs
    }
}
