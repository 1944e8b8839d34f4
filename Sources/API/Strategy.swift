// Per-kind rules the API server applies on writes: Kubernetes' defaulting, validation (with field
// paths), which fields are selectable, and whether the kind has a status subresource and a
// generation. Works on JSONValue so fields Skiff doesn't model pass through untouched.

public struct ResourceStrategy: Sendable {
    /// Resets what a create may not set (a quota's status), before defaults.
    public var prepareForCreate: @Sendable (inout JSONValue) -> Void = { _ in }
    /// Fills in defaults on create and update (idempotent).
    public var applyDefaults: @Sendable (inout JSONValue) -> Void = { _ in }
    /// Validates a whole object (metadata is checked separately by the server).
    public var validate: @Sendable (JSONValue) -> [FieldError] = { _ in [] }
    /// Extra checks on update (immutable fields).
    public var validateUpdate: @Sendable (_ new: JSONValue, _ old: JSONValue) -> [FieldError] = { _, _ in [] }
    /// Values for field selectors, beyond metadata.name and metadata.namespace.
    public var selectableFields: @Sendable (JSONValue) -> [String: String] = { _ in [:] }
    /// Names of the selectable fields (for the 400 on unsupported ones).
    public var selectableFieldNames: Set<String> = []
    /// Updates of the main resource keep status; /status updates keep everything but status.
    public var hasStatus = false
    /// metadata.generation increments when spec changes.
    public var tracksGeneration = false
    /// Kubernetes' name rule for this kind (most use DNS-1123 subdomains).
    public var nameRule: @Sendable (String, String) -> [FieldError] = NameValidation.dns1123Subdomain

    public init() {}

    /// Selectable field values for an object (always includes name and namespace).
    public func fields(of object: JSONValue) -> [String: String] {
        var f = selectableFields(object)
        f["metadata.name"] = object["metadata"]?["name"]?.stringValue ?? ""
        f["metadata.namespace"] = object["metadata"]?["namespace"]?.stringValue ?? ""
        return f
    }

    public var allSelectableFieldNames: Set<String> { selectableFieldNames.union(["metadata.name", "metadata.namespace"]) }
}

extension ResourceStrategy {
    public static func forKind(_ kind: String) -> ResourceStrategy {
        switch kind {
        case "Pod": return PodRules.strategy
        case "Namespace": return ClusterRules.namespace
        case "Node": return ClusterRules.node
        case "Service": return ServiceRules.strategy
        case "Endpoints": return ServiceRules.endpoints
        case "EndpointSlice": return ServiceRules.endpointSlice
        case "ConfigMap": return ConfigRules.configMap
        case "Secret": return ConfigRules.secret
        case "Event": return ClusterRules.event
        case "Lease": return ClusterRules.lease
        case "ReplicaSet": return WorkloadRules.replicaSet
        case "ReplicationController": return WorkloadRules.replicationController
        case "Deployment": return WorkloadRules.deployment
        case "DaemonSet": return AppsRules.daemonSet
        case "ControllerRevision": return AppsRules.controllerRevision
        case "StatefulSet": return AppsRules.statefulSet
        case "PersistentVolumeClaim": return StorageRules.persistentVolumeClaim
        case "PersistentVolume": return StorageRules.persistentVolume
        case "StorageClass": return StorageRules.storageClass
        case "Job": return BatchRules.job
        case "CronJob": return BatchRules.cronJob
        case "PodDisruptionBudget": return PolicyRules.podDisruptionBudget
        case "HorizontalPodAutoscaler": return AutoscalingRules.horizontalPodAutoscaler
        case "APIService": return APIServiceRules.strategy
        case "CustomResourceDefinition": return CustomResourceDefinitionRules.strategy
        case "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding":
            var rbac = ResourceStrategy()
            rbac.nameRule = NameValidation.pathSegment
            return rbac
        default: return GovernanceRules.strategy(forKind: kind) ?? ResourceStrategy()
        }
    }
}

// MARK: - helpers shared by the rules

/// Sets `obj[path]` to `value` when it is missing or null, creating objects on the way.
func setDefault(_ obj: inout JSONValue, _ path: [String], _ value: JSONValue) {
    guard case .object(var o) = obj, let first = path.first else { return }
    obj = .null
    if path.count == 1 {
        if o[first] == nil || o[first]!.isNull { o[first] = value }
    } else {
        var child = o[first] ?? .object(JSONObject())
        if child.isNull { child = .object(JSONObject()) }
        setDefault(&child, Array(path.dropFirst()), value)
        o[first] = child
    }
    obj = .object(o)
}

/// Applies `body` to each element of the array at `key` (if it is an array).
func forEachElement(_ obj: inout JSONValue, _ key: String, _ body: (inout JSONValue) -> Void) {
    guard case .array(var arr)? = obj[key] else { return }
    for i in arr.indices { body(&arr[i]) }
    obj[key] = .array(arr)
}

/// Applies `body` to the object at `key`, creating it if `create` is set.
func withChild(_ obj: inout JSONValue, _ key: String, create: Bool = false, _ body: (inout JSONValue) -> Void) {
    var child: JSONValue
    if let c = obj[key], case .object = c { child = c } else if create { child = .object(JSONObject()) } else { return }
    obj[key] = nil
    body(&child)
    obj[key] = child
}

func requireString(_ obj: JSONValue, _ key: String, path: String, into errs: inout [FieldError]) -> String? {
    guard let v = obj[key], !v.isNull else { errs.append(FieldError(.required, field: "\(path).\(key)", detail: "")); return nil }
    guard let s = v.stringValue else {
        errs.append(FieldError(.invalid, field: "\(path).\(key)", value: v.stringValue ?? v.jsonString, detail: "must be a string")); return nil
    }
    if s.isEmpty { errs.append(FieldError(.required, field: "\(path).\(key)", detail: "")); return nil }
    return s
}

func checkType(_ obj: JSONValue, _ key: String, path: String, expect: String, into errs: inout [FieldError]) {
    guard let v = obj[key], !v.isNull, v.typeName != expect else { return }
    errs.append(FieldError(.invalid, field: "\(path).\(key)", value: v.stringValue ?? v.jsonString, detail: "must be of type \(expect)"))
}

func checkNonNegative(_ obj: JSONValue, _ key: String, path: String, into errs: inout [FieldError]) {
    guard let v = obj[key], !v.isNull else { return }
    guard let n = v.intValue else {
        errs.append(FieldError(.invalid, field: "\(path).\(key)", value: v.stringValue ?? v.jsonString, detail: "must be an integer")); return
    }
    if n < 0 { errs.append(FieldError(.invalid, field: "\(path).\(key)", value: String(n), detail: "must be greater than or equal to 0")) }
}

func checkOneOf(_ obj: JSONValue, _ key: String, path: String, _ allowed: [String], into errs: inout [FieldError]) {
    guard let v = obj[key], !v.isNull else { return }
    guard let s = v.stringValue, allowed.contains(s) else {
        let shown = allowed.map { "\"\($0)\"" }.joined(separator: ", ")
        errs.append(FieldError(.notSupported, field: "\(path).\(key)", value: v.stringValue ?? v.jsonString, detail: "supported values: \(shown)"))
        return
    }
}

/// A label map (selector.matchLabels, template labels) checked for syntax.
func validateLabelMap(_ v: JSONValue?, path: String) -> [FieldError] {
    guard let v, !v.isNull else { return [] }
    guard let map = v.stringMap else { return [FieldError(.invalid, field: path, value: v.stringValue ?? v.jsonString, detail: "must be a map of strings")] }
    var errs: [FieldError] = []
    for (k, val) in map.sorted(by: { $0.key < $1.key }) {
        errs += NameValidation.qualifiedName(k, field: path)
        errs += NameValidation.labelValue(val, field: path)
    }
    return errs
}

/// A metav1.LabelSelector (matchLabels + matchExpressions) as a LabelSelector.
public func labelSelector(from v: JSONValue?) throws -> LabelSelector {
    guard let v, case .object = v else { return LabelSelector.everything }
    var reqs: [LabelRequirement] = []
    for (k, val) in (v["matchLabels"]?.stringMap ?? [:]).sorted(by: { $0.key < $1.key }) {
        reqs.append(LabelRequirement(key: k, op: .equals, values: [val]))
    }
    for (i, e) in (v["matchExpressions"]?.arrayValue ?? []).enumerated() {
        let path = "spec.selector.matchExpressions[\(i)]"
        guard let key = e["key"]?.stringValue, let op = e["operator"]?.stringValue else {
            throw FieldError(.required, field: path, detail: "key and operator are required")
        }
        let values = (e["values"]?.arrayValue ?? []).compactMap(\.stringValue)
        switch op {
        case "In": reqs.append(LabelRequirement(key: key, op: .in, values: values))
        case "NotIn": reqs.append(LabelRequirement(key: key, op: .notIn, values: values))
        case "Exists": reqs.append(LabelRequirement(key: key, op: .exists, values: []))
        case "DoesNotExist": reqs.append(LabelRequirement(key: key, op: .doesNotExist, values: []))
        default: throw FieldError(.notSupported, field: path + ".operator", value: op, detail: "supported values: \"In\", \"NotIn\", \"Exists\", \"DoesNotExist\"")
        }
    }
    return LabelSelector(requirements: reqs)
}
