// autoscaling/v2 HorizontalPodAutoscaler: Kubernetes' defaults (minReplicas 1, a cpu 80%
// utilization metric when none is given, a given behavior's unset rules filled in) and
// validation (replica bounds, the scale target, each metric's source and target, the scaling
// rules' windows and policies), with upstream's field paths and messages.
import Foundation

public enum AutoscalingRules {
    /// The utilization target when an HPA names no metric (autoscaling.DefaultCPUUtilization).
    public static let defaultCPUUtilization: Int64 = 80
    static let maxStabilizationWindowSeconds: Int64 = 3600
    static let maxPeriodSeconds: Int64 = 1800

    public static let horizontalPodAutoscaler: ResourceStrategy = {
        var s = ResourceStrategy()
        s.hasStatus = true
        s.tracksGeneration = true
        s.applyDefaults = { o in
            var hpa = HorizontalPodAutoscaler(json: o)
            applyDefaults(&hpa)
            o = hpa.json
        }
        s.validate = { o in validate(HorizontalPodAutoscaler(json: o)) }
        return s
    }()

    /// The scale-up rules Kubernetes fills in: no window, the larger of +4 pods or +100% per 15 s.
    public static var defaultScaleUp: HPAScalingRules {
        var r = HPAScalingRules()
        r.stabilizationWindowSeconds = 0
        r.selectPolicy = .max
        r.policies = [policy(.pods, 4, 15), policy(.percent, 100, 15)]
        return r
    }

    /// The scale-down rules: -100% per 15 s; the window stays unset (the controller's
    /// --horizontal-pod-autoscaler-downscale-stabilization, 5 minutes, applies).
    public static var defaultScaleDown: HPAScalingRules {
        var r = HPAScalingRules()
        r.selectPolicy = .max
        r.policies = [policy(.percent, 100, 15)]
        return r
    }

    public static func policy(_ type: HPAScalingPolicyType, _ value: Int64, _ period: Int64) -> HPAScalingPolicy {
        var p = HPAScalingPolicy()
        p.type = type
        p.value = value
        p.periodSeconds = period
        return p
    }

    static func applyDefaults(_ hpa: inout HorizontalPodAutoscaler) {
        if hpa.spec.minReplicas == nil { hpa.spec.minReplicas = 1 }
        if hpa.spec.metrics.isEmpty { hpa.spec.metrics = [cpuUtilizationMetric(defaultCPUUtilization)] }
        if hpa.spec.hasBehavior {
            hpa.spec.behavior.scaleUp = filled(hpa.spec.behavior.json["scaleUp"], defaults: defaultScaleUp)
            hpa.spec.behavior.scaleDown = filled(hpa.spec.behavior.json["scaleDown"], defaults: defaultScaleDown)
        }
    }

    /// A Resource metric on cpu with an average utilization target.
    public static func cpuUtilizationMetric(_ percent: Int64) -> MetricSpec {
        var target = MetricTarget()
        target.type = .utilization
        target.averageUtilization = percent
        var resource = ResourceMetricSource()
        resource.name = "cpu"
        resource.target = target
        var metric = MetricSpec()
        metric.type = .resource
        metric.resource = resource
        return metric
    }

    /// copyHPAScalingRules: what the user set wins, the rest comes from the defaults.
    static func filled(_ given: JSONValue?, defaults: HPAScalingRules) -> HPAScalingRules {
        guard let given, !given.isNull else { return defaults }
        let rules = HPAScalingRules(json: given)
        var out = defaults
        if rules.selectPolicy != nil { out.selectPolicy = rules.selectPolicy }
        if rules.stabilizationWindowSeconds != nil { out.stabilizationWindowSeconds = rules.stabilizationWindowSeconds }
        if rules.json["policies"].map({ !$0.isNull }) == true { out.policies = rules.policies }
        return out
    }

    // MARK: validation

    static func validate(_ hpa: HorizontalPodAutoscaler) -> [FieldError] {
        var errs: [FieldError] = []
        let spec = hpa.spec
        if let min = spec.minReplicas, min < 1 {
            errs.append(FieldError(.invalid, field: "spec.minReplicas", value: String(min), detail: "must be greater than 0", rawValue: true))
        }
        let max = spec.maxReplicas ?? 0
        if max < 1 {
            errs.append(FieldError(.invalid, field: "spec.maxReplicas", value: String(max), detail: "must be greater than 0", rawValue: true))
        }
        if let min = spec.minReplicas, max < min {
            errs.append(FieldError(.invalid, field: "spec.maxReplicas", value: String(max), detail: "must be greater than or equal to `minReplicas`",
                                   rawValue: true))
        }
        errs += validateReference(spec.scaleTargetRef, path: "spec.scaleTargetRef")
        for (i, metric) in spec.metrics.enumerated() { errs += validateMetric(metric, path: "spec.metrics[\(i)]") }
        if spec.hasBehavior {
            errs += validateRules(spec.behavior.scaleUp, path: "spec.behavior.scaleUp")
            errs += validateRules(spec.behavior.scaleDown, path: "spec.behavior.scaleDown")
        }
        checkNonNegative(hpa.status.json, "currentReplicas", path: "status", into: &errs)
        checkNonNegative(hpa.status.json, "desiredReplicas", path: "status", into: &errs)
        return errs
    }

    static func validateReference(_ ref: CrossVersionObjectReference, path: String) -> [FieldError] {
        var errs: [FieldError] = []
        for (key, value) in [("kind", ref.kind ?? ""), ("name", ref.name ?? "")] {
            if value.isEmpty { errs.append(FieldError(.required, field: "\(path).\(key)", detail: "")); continue }
            errs += NameValidation.pathSegment(value, field: "\(path).\(key)")
        }
        return errs
    }

    static let metricSourceTypes = ["ContainerResource", "External", "Object", "Pods", "Resource"]

    static func validateMetric(_ metric: MetricSpec, path: String) -> [FieldError] {
        var errs: [FieldError] = []
        guard let type = metric.type?.rawValue, !type.isEmpty else {
            return [FieldError(.required, field: "\(path).type", detail: "must specify a metric source type")]
        }
        guard metricSourceTypes.contains(type) else {
            return [FieldError(.notSupported, field: "\(path).type", value: type,
                               detail: "supported values: " + metricSourceTypes.map { "\"\($0)\"" }.joined(separator: ", "))]
        }
        // Exactly the source the type names is set.
        let sources = ["resource", "containerResource", "pods", "object", "external"]
        let expected = type.prefix(1).lowercased() + type.dropFirst()
        let present = sources.filter { metric.json[$0].map { !$0.isNull } == true }
        if !present.contains(expected) {
            errs.append(FieldError(.required, field: "\(path).\(expected)", detail: "must populate information for the given metric source"))
        }
        for other in present where other != expected {
            errs.append(FieldError(.forbidden, field: "\(path).\(other)", detail: "must populate the given metric source only"))
        }
        switch metric.type {
        case .resource? where present.contains("resource"):
            let source = metric.resource
            if (source.name ?? "").isEmpty { errs.append(FieldError(.required, field: "\(path).resource.name", detail: "must specify a resource name")) }
            errs += validateResourceTarget(source.target, path: "\(path).resource.target")
        case .containerResource? where present.contains("containerResource"):
            let source = metric.containerResource
            if (source.name ?? "").isEmpty {
                errs.append(FieldError(.required, field: "\(path).containerResource.name", detail: "must specify a resource name"))
            }
            if (source.container ?? "").isEmpty {
                errs.append(FieldError(.required, field: "\(path).containerResource.container", detail: "must specify a container"))
            }
            errs += validateResourceTarget(source.target, path: "\(path).containerResource.target")
        default:
            break
        }
        return errs
    }

    /// A Resource metric's target: utilization or an average value, one of them, positive.
    static func validateResourceTarget(_ target: MetricTarget, path: String) -> [FieldError] {
        var errs = validateTarget(target, path: path)
        if target.averageUtilization == nil && target.averageValue == nil {
            errs.append(FieldError(.required, field: "\(path).averageUtilization", detail: "must set either a target raw value or a target utilization"))
        }
        if target.averageUtilization != nil && target.averageValue != nil {
            errs.append(FieldError(.forbidden, field: "\(path).averageValue", detail: "may not set both a target raw value and a target utilization"))
        }
        return errs
    }

    static func validateTarget(_ target: MetricTarget, path: String) -> [FieldError] {
        var errs: [FieldError] = []
        let allowed = ["AverageValue", "Utilization", "Value"]
        switch target.type?.rawValue {
        case nil, ""?: errs.append(FieldError(.required, field: "\(path).type", detail: "must specify a metric target type"))
        case let t? where !allowed.contains(t):
            errs.append(FieldError(.notSupported, field: "\(path).type", value: t, detail: "supported values: " + allowed.map { "\"\($0)\"" }.joined(separator: ", ")))
        default: break
        }
        if let u = target.averageUtilization, u < 1 {
            errs.append(FieldError(.invalid, field: "\(path).averageUtilization", value: String(u), detail: "must be greater than 0", rawValue: true))
        }
        for (key, text) in [("value", target.value), ("averageValue", target.averageValue)] {
            guard let text else { continue }
            guard let q = try? Quantity(parsing: text) else {
                errs.append(FieldError(.invalid, field: "\(path).\(key)", value: text, detail: "must be a valid quantity")); continue
            }
            if q.milliValue <= 0 { errs.append(FieldError(.invalid, field: "\(path).\(key)", value: text, detail: "must be positive")) }
        }
        return errs
    }

    static func validateRules(_ rules: HPAScalingRules, path: String) -> [FieldError] {
        var errs: [FieldError] = []
        if let w = rules.stabilizationWindowSeconds {
            if w < 0 {
                errs.append(FieldError(.invalid, field: "\(path).stabilizationWindowSeconds", value: String(w), detail: "must be greater than or equal to zero", rawValue: true))
            } else if w > maxStabilizationWindowSeconds {
                errs.append(FieldError(.invalid, field: "\(path).stabilizationWindowSeconds", value: String(w),
                                       detail: "must be less than or equal to \(maxStabilizationWindowSeconds)", rawValue: true))
            }
        }
        checkOneOf(rules.json, "selectPolicy", path: path, ["Disabled", "Max", "Min"], into: &errs)
        if rules.policies.isEmpty && rules.selectPolicy != .disabled {
            errs.append(FieldError(.required, field: "\(path).policies", detail: "must specify at least one Policy"))
        }
        for (i, p) in rules.policies.enumerated() {
            let at = "\(path).policies[\(i)]"
            checkOneOf(p.json, "type", path: at, ["Percent", "Pods"], into: &errs)
            if p.type == nil { errs.append(FieldError(.required, field: "\(at).type", detail: "")) }
            if (p.value ?? 0) <= 0 {
                errs.append(FieldError(.invalid, field: "\(at).value", value: String(p.value ?? 0), detail: "must be greater than zero", rawValue: true))
            }
            let period = p.periodSeconds ?? 0
            if period <= 0 {
                errs.append(FieldError(.invalid, field: "\(at).periodSeconds", value: String(period), detail: "must be greater than zero", rawValue: true))
            } else if period > maxPeriodSeconds {
                errs.append(FieldError(.invalid, field: "\(at).periodSeconds", value: String(period),
                                       detail: "must be less than or equal to \(maxPeriodSeconds)", rawValue: true))
            }
        }
        return errs
    }
}

extension HorizontalPodAutoscalerSpec {
    /// A behavior is set (an HPA without one scales by the controller's flags and legacy rules).
    public var hasBehavior: Bool { json["behavior"].map { !$0.isNull } ?? false }
}
