// The write rules of LimitRange, ResourceQuota and PriorityClass: defaults (quantities written
// as numbers become text, a class's preemption policy) and Kubernetes' 422 field errors.
import Foundation

extension GovernanceRules {
    // MARK: LimitRange

    public static let limitRange: ResourceStrategy = {
        var s = ResourceStrategy()
        s.applyDefaults = { o in
            var lr = LimitRange(json: o)
            lr.spec.limits = lr.spec.limits.map { item in
                var item = item
                // (Reading a quantity map and writing it back turns `cpu: 1` into "1".)
                if let m = item.max { item.max = m }
                if let m = item.min { item.min = m }
                if let m = item.defaultLimits { item.defaultLimits = m }
                if let m = item.defaultRequest { item.defaultRequest = m }
                if let m = item.maxLimitRequestRatio { item.maxLimitRequestRatio = m }
                LimitRanger.defaultItem(&item)
                return item
            }
            o = lr.json
        }
        s.validate = { validateLimitRange(LimitRange(json: $0)) }
        return s
    }()

    static func validateLimitRange(_ lr: LimitRange) -> [FieldError] {
        var errs: [FieldError] = []
        var seenTypes = Set<String>()
        for (i, item) in lr.spec.limits.enumerated() {
            let path = "spec.limits[\(i)]"
            let type = item.type ?? ""
            errs += validateLimitType(type, field: path + ".type")
            if !seenTypes.insert(type).inserted { errs.append(FieldError(.duplicate, field: path + ".type", value: type, detail: "")) }
            func named(_ key: String) -> [String: Quantity] {
                let found = quantities(item.json[key], field: "\(path).\(key)", into: &errs)
                for (name, _) in found {
                    let f = "\(path).\(key)[\(name)]"
                    errs += type == "Pod" || type == "Container" ? validateContainerResourceName(name, field: f) : validateResourceName(name, field: f)
                }
                return Dictionary(found.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
            }
            let max = named("max"), min = named("min")
            var defaults: [String: Quantity] = [:], defaultRequests: [String: Quantity] = [:]
            if type == "Pod" {
                if !(item.defaultLimits ?? [:]).isEmpty {
                    errs.append(FieldError(.forbidden, field: path + ".default", detail: "may not be specified when `type` is 'Pod'"))
                }
                if !(item.defaultRequest ?? [:]).isEmpty {
                    errs.append(FieldError(.forbidden, field: path + ".defaultRequest", detail: "may not be specified when `type` is 'Pod'"))
                }
            } else {
                defaults = named("default")
                defaultRequests = named("defaultRequest")
            }
            if type == "PersistentVolumeClaim", min[ResourceName.storage] == nil, max[ResourceName.storage] == nil {
                errs.append(FieldError(.required, field: path + ".limits",
                                       detail: "either minimum or maximum storage value is required, but neither was provided"))
            }
            let ratios = named("maxLimitRequestRatio")
            let keys = Set(max.keys).union(min.keys).union(defaults.keys).union(defaultRequests.keys).union(ratios.keys)
            for k in keys.sorted() {
                errs += limitRangeBounds(k, path: path, min: min[k], max: max[k], defaultLimit: defaults[k],
                                         defaultRequest: defaultRequests[k], ratio: ratios[k])
            }
        }
        return errs
    }

    static func validateLimitType(_ type: String, field: String) -> [FieldError] {
        let errs = NameValidation.qualifiedName(type, field: field)
        if !errs.isEmpty { return errs }
        if !type.contains("/"), !limitTypes.contains(type) {
            return [FieldError(.invalid, field: field, value: type, detail: "must be a standard limit type or fully qualified")]
        }
        return []
    }

    /// min ≤ defaultRequest ≤ default ≤ max, 1 ≤ ratio ≤ max/min, for one resource of one item.
    static func limitRangeBounds(_ k: String, path: String, min: Quantity?, max: Quantity?, defaultLimit: Quantity?,
                                 defaultRequest: Quantity?, ratio: Quantity?) -> [FieldError] {
        var errs: [FieldError] = []
        func invalid(_ key: String, _ shown: Quantity, _ detail: String) {
            errs.append(FieldError(.invalid, field: "\(path).\(key)[\(k)]", value: shown.description, detail: detail))
        }
        if let min, let max, min > max { invalid("min", min, "min value \(min) is greater than max value \(max)") }
        if let d = defaultRequest, let min, min > d { invalid("defaultRequest", d, "min value \(min) is greater than default request value \(d)") }
        if let d = defaultRequest, let max, d > max { invalid("defaultRequest", d, "default request value \(d) is greater than max value \(max)") }
        if let d = defaultRequest, let l = defaultLimit, d > l {
            invalid("defaultRequest", d, "default request value \(d) is greater than default limit value \(l)")
        }
        if let l = defaultLimit, let min, min > l { invalid("default", min, "min value \(min) is greater than default value \(l)") }
        if let l = defaultLimit, let max, l > max { invalid("default", max, "default value \(l) is greater than max value \(max)") }
        if let ratio, ratio < Quantity(1) { invalid("maxLimitRequestRatio", ratio, "ratio \(ratio) is less than 1") }
        if let ratio, let min, let max {
            // Milli precision unless that would overflow, as Kubernetes compares.
            let milli = ratio.value < maxMilliValue && min.value < maxMilliValue && max.value < maxMilliValue
            let ratioValue = milli ? Double(ratio.milliValue) / 1000 : Double(ratio.value)
            let bound = milli ? Double(max.milliValue) / Double(min.milliValue) : Double(max.value) / Double(min.value)
            if ratioValue > bound {
                invalid("maxLimitRequestRatio", ratio, "ratio \(ratio) is greater than max/min = \(String(format: "%f", bound))")
            }
        }
        if !isOvercommitAllowed(k), let l = defaultLimit, let d = defaultRequest, l != d {
            invalid("defaultRequest", d, "default value \(l) must equal to defaultRequest value \(d) in \(k)")
        }
        return errs
    }

    /// resource.MaxMilliValue: past it, milli values would overflow int64.
    static let maxMilliValue = Int64.max / 1000

    // MARK: ResourceQuota

    public static let resourceQuota: ResourceStrategy = {
        var s = ResourceStrategy()
        s.hasStatus = true
        s.prepareForCreate = { o in o["status"] = nil }   // status is the controller's and admission's
        s.applyDefaults = { o in
            var q = ResourceQuota(json: o)
            if let m = q.spec.hard { q.spec.hard = m }
            if let m = q.status.hard { q.status.hard = m }
            if let m = q.status.used { q.status.used = m }
            o = q.json
        }
        s.validate = { validateResourceQuota(ResourceQuota(json: $0)) }
        s.validateUpdate = { new, old in
            let n = Set(ResourceQuota(json: new).spec.scopes ?? []), was = Set(ResourceQuota(json: old).spec.scopes ?? [])
            guard n != was else { return [] }
            return [FieldError.invalid("spec.scopes", strings: ResourceQuota(json: new).spec.scopes ?? [], detail: "field is immutable")]
        }
        return s
    }()

    static func validateResourceQuota(_ q: ResourceQuota) -> [FieldError] {
        var errs: [FieldError] = []
        for (map, path) in [(q.spec.json["hard"], "spec.hard"), (q.status.json["hard"], "status.hard"), (q.status.json["used"], "status.used")] {
            for (name, value) in quantities(map, field: path, into: &errs) {
                errs += validateQuotaResourceName(name, field: "\(path)[\(name)]") + validateQuantityValue(name, value, field: "\(path)[\(name)]")
            }
        }
        let hard = (q.spec.hard ?? [:]).keys.sorted()
        let scopes = q.spec.scopes ?? []
        if !scopes.isEmpty {
            let bad = { (detail: String) in FieldError.invalid("spec.scopes", strings: scopes, detail: detail) }
            for scope in scopes {
                if !quotaScopes.contains(scope) { errs.append(bad("unsupported scope")) }
                for k in hard where isStandardQuotaResource(k) && !isScope(scope, validFor: k) { errs.append(bad("unsupported scope applied to resource")) }
            }
            errs += conflictingScopes(Set(scopes)).map { _ in bad("conflicting scopes") }
        }
        if q.spec.scopeSelector.isSet { errs += validateScopeSelector(q.spec, hard: hard) }
        return errs
    }

    static func validateScopeSelector(_ spec: ResourceQuotaSpec, hard: [String]) -> [FieldError] {
        var errs: [FieldError] = []
        let path = "spec.scopeSelector.matchExpressions"
        var names = Set<String>()
        for req in spec.scopeSelector.matchExpressions {
            let scope = req.scopeName ?? "", op = req.op ?? "", values = req.values ?? []
            if !quotaScopes.contains(scope) { errs.append(FieldError(.invalid, field: path + ".scopeName", value: scope, detail: "unsupported scope")) }
            for k in hard where isStandardQuotaResource(k) && !isScope(scope, validFor: k) {
                errs.append(FieldError(.invalid, field: path, value: spec.scopeSelector.json.jsonString, detail: "unsupported scope applied to resource", rawValue: true))
            }
            if ["BestEffort", "NotBestEffort", "Terminating", "NotTerminating", "CrossNamespacePodAffinity"].contains(scope), op != "Exists" {
                errs.append(FieldError(.invalid, field: path + ".operator", value: op,
                                       detail: "must be 'Exist' when scope is any of ResourceQuotaScopeTerminating, ResourceQuotaScopeNotTerminating, ResourceQuotaScopeBestEffort, ResourceQuotaScopeNotBestEffort or ResourceQuotaScopeCrossNamespacePodAffinity"))
            }
            switch op {
            case "In", "NotIn":
                if values.isEmpty {
                    errs.append(FieldError(.required, field: path + ".values", detail: "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector"))
                }
            case "Exists", "DoesNotExist":
                if !values.isEmpty {
                    errs.append(FieldError.invalid(path + ".values", strings: values, detail: "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector"))
                }
            default:
                errs.append(FieldError(.invalid, field: path + ".operator", value: op, detail: "not a valid selector operator"))
            }
            names.insert(scope)
        }
        errs += conflictingScopes(names).map { _ in FieldError.invalid(path, strings: spec.scopes ?? [], detail: "conflicting scopes") }
        return errs
    }

    /// The scope pairs that can never both hold.
    static func conflictingScopes(_ scopes: Set<String>) -> [Set<String>] {
        [["BestEffort", "NotBestEffort"], ["Terminating", "NotTerminating"]].filter { scopes.isSuperset(of: $0) }
    }

    /// Scoped quotas may only track pods and their compute resources (BestEffort: only pods).
    static func isScope(_ scope: String, validFor resource: String) -> Bool {
        let podCompute: Set<String> = ["cpu", "memory", "limits.cpu", "limits.memory", "requests.cpu", "requests.memory"]
        switch scope {
        case "Terminating", "NotTerminating", "NotBestEffort", "PriorityClass", "CrossNamespacePodAffinity":
            return resource == ResourceName.pods || podCompute.contains(resource)
        case "BestEffort": return resource == ResourceName.pods
        default: return true
        }
    }

    // MARK: PriorityClass

    public static let highestUserDefinablePriority: Int64 = 1_000_000_000
    public static let systemClusterCritical = "system-cluster-critical"
    public static let systemNodeCritical = "system-node-critical"

    /// The classes the API server keeps (scheduling.SystemPriorityClasses).
    public static var systemPriorityClasses: [PriorityClass] {
        func make(_ name: String, _ value: Int64, _ description: String) -> PriorityClass {
            var pc = PriorityClass.new(name: name)
            pc.value = value
            pc.description = description
            return pc
        }
        return [make(systemNodeCritical, 2 * highestUserDefinablePriority + 1000, "Used for system critical pods that must not be moved from their current node."),
                make(systemClusterCritical, 2 * highestUserDefinablePriority,
                     "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.")]
    }

    public static let preemptionPolicies = ["Never", "PreemptLowerPriority"]

    public static let priorityClass: ResourceStrategy = {
        var s = ResourceStrategy()
        s.applyDefaults = { o in
            var pc = PriorityClass(json: o)
            if pc.preemptionPolicy == nil { pc.preemptionPolicy = "PreemptLowerPriority" }
            o = pc.json
        }
        s.validate = { validatePriorityClass(PriorityClass(json: $0)) }
        s.validateUpdate = { new, old in
            let n = PriorityClass(json: new), o = PriorityClass(json: old)
            var errs: [FieldError] = []
            if n.value != o.value { errs.append(FieldError(.forbidden, field: "value", detail: "may not be changed in an update.")) }
            if n.preemptionPolicy != o.preemptionPolicy {
                errs.append(FieldError(.invalid, field: "preemptionPolicy", value: n.preemptionPolicy ?? "", detail: "field is immutable"))
            }
            return errs
        }
        return s
    }()

    static func validatePriorityClass(_ pc: PriorityClass) -> [FieldError] {
        var errs: [FieldError] = []
        let value = pc.value ?? 0
        if let v = pc.json["value"], !v.isNull, v.intValue == nil || !(Int64(Int32.min)...Int64(Int32.max)).contains(value) {
            errs.append(FieldError(.invalid, field: "value", value: v.jsonString, detail: "must be a 32-bit integer", rawValue: true))
        }
        if pc.name.hasPrefix("system-") {
            if let why = systemClassMismatch(pc) {
                errs.append(FieldError(.forbidden, field: "metadata.name",
                                       detail: "priority class names with 'system-' prefix are reserved for system use only. error: \(why)"))
            }
        } else if value > highestUserDefinablePriority {
            errs.append(FieldError(.forbidden, field: "value", detail: "maximum allowed value of a user defined priority is \(highestUserDefinablePriority)"))
        }
        if let p = pc.preemptionPolicy, !preemptionPolicies.contains(p) {
            errs.append(FieldError(.notSupported, field: "preemptionPolicy", value: p, detail: "supported values: \"Never\", \"PreemptLowerPriority\""))
        }
        return errs
    }

    /// Why a `system-` class is not one of the system classes as they are (IsKnownSystemPriorityClass).
    static func systemClassMismatch(_ pc: PriorityClass) -> String? {
        guard let known = systemPriorityClasses.first(where: { $0.name == pc.name }) else { return "\(pc.name) is not a known system priority class" }
        if known.value != pc.value { return "value of \(known.name) PriorityClass must be \(known.value ?? 0)" }
        if (pc.globalDefault ?? false) != false { return "globalDefault of \(known.name) PriorityClass must be false" }
        return nil
    }
}
