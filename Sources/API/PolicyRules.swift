// policy/v1 PodDisruptionBudget: Kubernetes' validation (minAvailable or maxUnavailable, each a
// non-negative number or a percentage up to 100%; a valid selector; a known unhealthy-pod
// policy), and what the disruption controller and the eviction subresource share: which pods a
// budget selects and the DisruptionAllowed condition (k8s.io/component-helpers' pdb helper).
import Foundation

public enum PolicyRules {
    public static let disruptionAllowedCondition = "DisruptionAllowed"
    public static let sufficientPodsReason = "SufficientPods"
    public static let insufficientPodsReason = "InsufficientPods"
    public static let syncFailedReason = "SyncFailed"
    /// The pod condition the eviction subresource sets on a pod it is about to delete.
    public static let disruptionTargetCondition = "DisruptionTarget"
    /// How long an eviction stays in status.disruptedPods waiting for the pod's deletion to be seen.
    public static let disruptedPodTimeout: TimeInterval = 120

    public static let podDisruptionBudget: ResourceStrategy = {
        var s = ResourceStrategy()
        s.hasStatus = true
        s.tracksGeneration = true
        s.validate = { o in validate(PodDisruptionBudget(json: o)) }
        return s
    }()

    static func validate(_ pdb: PodDisruptionBudget) -> [FieldError] {
        var errs: [FieldError] = []
        let spec = pdb.spec
        if spec.minAvailable != nil && spec.maxUnavailable != nil {
            errs.append(FieldError(.invalid, field: "spec", value: spec.json.jsonString, detail: "minAvailable and maxUnavailable cannot be both set",
                                   rawValue: true))
        }
        for key in ["minAvailable", "maxUnavailable"] {
            guard let raw = spec.json[key], !raw.isNull else { continue }
            errs += validateIntOrPercent(raw, field: "spec.\(key)")
        }
        if let selector = spec.json["selector"], !selector.isNull {
            errs += validateLabelMap(selector["matchLabels"], path: "spec.selector.matchLabels")
            do { _ = try labelSelector(from: selector) } catch let e as FieldError { errs.append(e) } catch {}
        }
        checkOneOf(spec.json, "unhealthyPodEvictionPolicy", path: "spec", ["AlwaysAllow", "IfHealthyBudget"], into: &errs)
        for key in ["disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods"] {
            checkNonNegative(pdb.status.json, key, path: "status", into: &errs)
        }
        return errs
    }

    /// apps validation's ValidatePositiveIntOrPercent and IsNotMoreThan100Percent.
    static func validateIntOrPercent(_ raw: JSONValue, field: String) -> [FieldError] {
        switch IntOrString(json: raw) {
        case .int(let n)?:
            return n < 0 ? [FieldError(.invalid, field: field, value: String(n), detail: "must be greater than or equal to 0", rawValue: true)] : []
        case .string(let s)?:
            let digits = s.dropLast()
            guard s.hasSuffix("%"), !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let percent = Int(digits) else {
                return [FieldError(.invalid, field: field, value: s,
                                   detail: "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')")]
            }
            return percent > 100 ? [FieldError(.invalid, field: field, value: s, detail: "must not be greater than 100%")] : []
        case nil:
            return [FieldError(.invalid, field: field, value: raw.jsonString, detail: "must be an integer or percentage (e.g '5%')", rawValue: true)]
        }
    }

    /// The pods a budget selects: nil when it has no selector (policy/v1: it selects none) or one
    /// that does not parse; an empty selector selects every pod of the namespace.
    public static func selector(_ pdb: PodDisruptionBudget) -> LabelSelector? {
        guard let raw = pdb.spec.json["selector"], case .object = raw else { return nil }
        return try? labelSelector(from: raw)
    }
}

extension PodDisruptionBudgetStatus {
    /// DisruptionAllowed: True (SufficientPods) while disruptionsAllowed > 0, else False (InsufficientPods).
    public mutating func updateDisruptionAllowedCondition(now: Date) {
        let allowed = (disruptionsAllowed ?? 0) > 0
        setCondition(PolicyRules.disruptionAllowedCondition, allowed ? .true : .false,
                     reason: allowed ? PolicyRules.sufficientPodsReason : PolicyRules.insufficientPodsReason, message: "", now: now)
    }

    /// apimeta.SetStatusCondition: adds or updates the condition of that type.
    public mutating func setCondition(_ type: String, _ status: ConditionStatus, reason: String, message: String, now: Date) {
        let i = conditions.set(type, status, reason: reason, message: message, now: now)
        conditions[i].observedGeneration = observedGeneration ?? 0
    }
}
