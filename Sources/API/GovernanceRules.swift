// Defaulting and validation of LimitRange, ResourceQuota and PriorityClass as Kubernetes does it
// (pkg/apis/core/validation, pkg/apis/scheduling/validation), with the resource-name sets they
// check against (pkg/apis/core/helper). Quantities in the messages are shown as canonical text.
import Foundation

public enum GovernanceRules {
    /// The strategies of the governance kinds (nil for any other kind).
    static func strategy(forKind kind: String) -> ResourceStrategy? {
        switch kind {
        case LimitRange.kind: return limitRange
        case ResourceQuota.kind: return resourceQuota
        case PriorityClass.kind: return priorityClass
        default: return nil
        }
    }

    // MARK: resource names

    static let standardResources: Set<String> = [
        "cpu", "memory", "ephemeral-storage", "requests.cpu", "requests.memory", "requests.ephemeral-storage", "limits.cpu",
        "limits.memory", "limits.ephemeral-storage", "pods", "resourcequotas", "services", "replicationcontrollers", "secrets",
        "configmaps", "persistentvolumeclaims", "storage", "requests.storage", "services.nodeports", "services.loadbalancers",
    ]
    static let standardQuotaResources: Set<String> = [
        "cpu", "memory", "ephemeral-storage", "requests.cpu", "requests.memory", "requests.storage", "requests.ephemeral-storage",
        "limits.cpu", "limits.memory", "limits.ephemeral-storage", "pods", "resourcequotas", "services", "replicationcontrollers",
        "secrets", "persistentvolumeclaims", "configmaps", "services.nodeports", "services.loadbalancers",
    ]
    static let integerResources: Set<String> = [
        "pods", "resourcequotas", "services", "replicationcontrollers", "secrets", "configmaps", "persistentvolumeclaims",
        "services.nodeports", "services.loadbalancers",
    ]
    public static let quotaScopes = ["Terminating", "NotTerminating", "BestEffort", "NotBestEffort", "PriorityClass",
                                     "CrossNamespacePodAffinity"]
    public static let limitTypes = ["Pod", "Container", "PersistentVolumeClaim"]

    static func isHugePages(_ name: String) -> Bool {
        name.hasPrefix(ResourceName.hugePagesPrefix) || name.hasPrefix(ResourceName.requestsPrefix + ResourceName.hugePagesPrefix)
    }

    /// Unqualified names and `kubernetes.io/` ones are Kubernetes' own (helper.IsNativeResource).
    public static func isNative(_ name: String) -> Bool { !name.contains("/") || name.contains("kubernetes.io/") }

    /// A vendor's resource ("example.com/gpu"), counted only in whole units (helper.IsExtendedResourceName).
    public static func isExtended(_ name: String) -> Bool {
        guard !isNative(name), !name.hasPrefix(ResourceName.requestsPrefix) else { return false }
        return NameValidation.qualifiedName(ResourceName.requestsPrefix + name, field: "").isEmpty
    }

    static func isStandardQuotaResource(_ name: String) -> Bool { standardQuotaResources.contains(name) || isHugePages(name) }

    static func isInteger(_ name: String) -> Bool { integerResources.contains(name) || isExtended(name) }

    /// Only native, non-hugepage resources may be requested below their limit.
    static func isOvercommitAllowed(_ name: String) -> Bool { isNative(name) && !name.hasPrefix(ResourceName.hugePagesPrefix) }

    static func validateResourceName(_ value: String, field: String) -> [FieldError] {
        let errs = NameValidation.qualifiedName(value, field: field)
        if !errs.isEmpty { return errs }
        if !value.contains("/"), !standardResources.contains(value), !isHugePages(value) {
            return [FieldError(.invalid, field: field, value: value, detail: "must be a standard resource type or fully qualified")]
        }
        return []
    }

    static func validateContainerResourceName(_ value: String, field: String) -> [FieldError] {
        let errs = validateResourceName(value, field: field)
        if !value.contains("/") {
            let standard = ["cpu", "memory", "ephemeral-storage"].contains(value) || value.hasPrefix(ResourceName.hugePagesPrefix)
            if !standard { return errs + [FieldError(.invalid, field: field, value: value, detail: "must be a standard resource for containers")] }
        } else if !isNative(value), !isExtended(value) {
            return errs + [FieldError(.invalid, field: field, value: value, detail: "doesn't follow extended resource name standard")]
        }
        return errs
    }

    static func validateQuotaResourceName(_ value: String, field: String) -> [FieldError] {
        let errs = validateResourceName(value, field: field)
        if !value.contains("/"), !isStandardQuotaResource(value) {
            return errs + [FieldError(.invalid, field: field, value: value, detail: "must be a standard resource for quota")]
        }
        return errs
    }

    static func validateQuantityValue(_ resource: String, _ q: Quantity, field: String) -> [FieldError] {
        var errs: [FieldError] = []
        if q.isNegative { errs.append(FieldError(.invalid, field: field, value: q.description, detail: "must be greater than or equal to 0")) }
        if isInteger(resource), q.milliValue % 1000 != 0 {
            errs.append(FieldError(.invalid, field: field, value: q.description, detail: "must be an integer"))
        }
        return errs
    }

    /// The quantities of a map field, sorted by name; a value that is no quantity is an error.
    static func quantities(_ json: JSONValue?, field: String, into errs: inout [FieldError]) -> [(name: String, value: Quantity)] {
        guard let json, !json.isNull else { return [] }
        guard let map = json.quantityMap else {
            errs.append(FieldError(.invalid, field: field, value: json.jsonString, detail: "must be a map of resource names to quantities"))
            return []
        }
        var out: [(String, Quantity)] = []
        for (name, text) in map.sorted(by: { $0.key < $1.key }) {
            guard let q = try? Quantity(parsing: text) else {
                errs.append(StorageRules.quantityError("\(field)[\(name)]", text))
                continue
            }
            out.append((name, q))
        }
        return out
    }
}

extension ResourceRegistry {
    /// LimitRange, ResourceQuota and PriorityClass, as kube-apiserver serves them.
    static let governance: [ResourceType] = [
        .init(group: "", version: "v1", plural: "limitranges", singular: "limitrange", kind: "LimitRange", namespaced: true,
              shortNames: ["limits"], subresources: [:], inAllCategory: false),
        .init(group: "", version: "v1", plural: "resourcequotas", singular: "resourcequota", kind: "ResourceQuota", namespaced: true,
              shortNames: ["quota"], subresources: ["status": statusVerbs], inAllCategory: false),
        .init(group: "scheduling.k8s.io", version: "v1", plural: "priorityclasses", singular: "priorityclass", kind: "PriorityClass",
              namespaced: false, shortNames: ["pc"], subresources: [:], inAllCategory: false),
    ]
}
