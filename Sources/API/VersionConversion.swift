// Conversion between the versions a resource is served in and the one its objects are stored in
// (ResourceRegistry.storageType): the API server converts request bodies into the storage
// version and everything it answers back into the version asked for. HorizontalPodAutoscaler is
// stored as autoscaling/v2 and served as autoscaling/v1 too, as Kubernetes does: v1 carries a
// cpu utilization target, and what it cannot say (other metrics, behavior, conditions) rides in
// the autoscaling.alpha.kubernetes.io annotations so a v1 round trip loses nothing.
import Foundation

public enum VersionConversion {
    /// The object as the storage version holds it (the request's version is `type`'s).
    public static func toStorage(_ object: JSONValue, from type: ResourceType) -> JSONValue {
        guard case .object = object, object["kind"]?.stringValue == type.kind || object["kind"] == nil else { return object }
        if let storage = type.custom?.storageType {   // (conversion None: only the apiVersion changes)
            var stored = object
            stored["apiVersion"] = .string(storage.groupVersion)
            return stored
        }
        switch (type.kind, type.groupVersion) {
        case ("HorizontalPodAutoscaler", "autoscaling/v1"): return HPAConversion.v1ToV2(object)
        default: return object
        }
    }

    /// A stored object, or a list of them, in the version `type` names.
    public static func fromStorage(_ object: JSONValue, to type: ResourceType) -> JSONValue {
        guard ResourceRegistry.storageType(of: type) != type, case .object = object else { return object }
        if object["kind"]?.stringValue == type.kind + "List" {
            var list = object
            list["apiVersion"] = .string(type.groupVersion)
            list["items"] = .array((object["items"]?.arrayValue ?? []).map { fromStorage($0, to: type) })
            return list
        }
        guard object["kind"]?.stringValue == type.kind else { return object }
        if type.custom != nil {
            var served = object
            served["apiVersion"] = .string(type.groupVersion)
            return served
        }
        switch (type.kind, type.groupVersion) {
        case ("HorizontalPodAutoscaler", "autoscaling/v1"): return HPAConversion.v2ToV1(object)
        default: return object
        }
    }
}

/// autoscaling/v1 ⇄ v2 HorizontalPodAutoscaler (Kubernetes' autoscaling/v1 conversion).
enum HPAConversion {
    static let metricsAnnotation = "autoscaling.alpha.kubernetes.io/metrics"
    static let currentMetricsAnnotation = "autoscaling.alpha.kubernetes.io/current-metrics"
    static let conditionsAnnotation = "autoscaling.alpha.kubernetes.io/conditions"
    static let behaviorAnnotation = "autoscaling.alpha.kubernetes.io/behavior"

    static func isCPUUtilization(_ m: MetricSpec) -> Bool {
        m.type == .resource && m.resource.name == "cpu" && m.resource.target.type == .utilization && m.resource.target.averageUtilization != nil
    }

    static func v2ToV1(_ object: JSONValue) -> JSONValue {
        let hpa = HorizontalPodAutoscaler(json: object)
        var meta = hpa.metadata
        var annotations = meta.annotations ?? [:]
        var spec: JSONValue = ["scaleTargetRef": hpa.spec.json["scaleTargetRef"] ?? .object(JSONObject())]
        spec["minReplicas"] = hpa.spec.json["minReplicas"]
        spec["maxReplicas"] = .int(hpa.spec.maxReplicas ?? 0)
        var others: [JSONValue] = []
        for m in hpa.spec.metrics {
            if spec["targetCPUUtilizationPercentage"] == nil, isCPUUtilization(m) {
                spec["targetCPUUtilizationPercentage"] = .int(m.resource.target.averageUtilization ?? 0)
            } else {
                others.append(m.json)
            }
        }
        if !others.isEmpty { annotations[metricsAnnotation] = JSONValue.array(others).jsonString }
        if let behavior = hpa.spec.json["behavior"], !behavior.isNull { annotations[behaviorAnnotation] = behavior.jsonString }

        let s = hpa.status
        var status: JSONValue = ["currentReplicas": .int(s.currentReplicas ?? 0), "desiredReplicas": .int(s.desiredReplicas ?? 0)]
        status["observedGeneration"] = s.json["observedGeneration"]
        status["lastScaleTime"] = s.json["lastScaleTime"]
        var otherCurrent: [JSONValue] = []
        for m in s.currentMetrics {
            if status["currentCPUUtilizationPercentage"] == nil, m.type == .resource, m.resource.name == "cpu",
               let u = m.resource.current.averageUtilization {
                status["currentCPUUtilizationPercentage"] = .int(u)
            } else {
                otherCurrent.append(m.json)
            }
        }
        if !otherCurrent.isEmpty { annotations[currentMetricsAnnotation] = JSONValue.array(otherCurrent).jsonString }
        if let conditions = s.json["conditions"], !(conditions.arrayValue ?? []).isEmpty { annotations[conditionsAnnotation] = conditions.jsonString }
        meta.annotations = annotations.isEmpty ? nil : annotations

        var out: JSONValue = ["kind": "HorizontalPodAutoscaler", "apiVersion": "autoscaling/v1"]
        out["metadata"] = meta.json
        out["spec"] = spec
        out["status"] = status
        return out
    }

    static func v1ToV2(_ object: JSONValue) -> JSONValue {
        var meta = ObjectMeta(json: object["metadata"] ?? .object(JSONObject()))
        var annotations = meta.annotations ?? [:]
        func take(_ key: String) -> JSONValue? {
            guard let text = annotations.removeValue(forKey: key) else { return nil }
            return try? JSONValue.parse(text)
        }
        let v1Spec = object["spec"] ?? .object(JSONObject())
        var spec = HorizontalPodAutoscalerSpec()
        spec.json["scaleTargetRef"] = v1Spec["scaleTargetRef"]
        spec.json["minReplicas"] = v1Spec["minReplicas"]
        spec.json["maxReplicas"] = v1Spec["maxReplicas"]
        var metrics: [MetricSpec] = []
        if let cpu = v1Spec["targetCPUUtilizationPercentage"]?.intValue { metrics.append(AutoscalingRules.cpuUtilizationMetric(cpu)) }
        metrics += (take(metricsAnnotation)?.arrayValue ?? []).map(MetricSpec.init(json:))
        spec.metrics = metrics
        if let behavior = take(behaviorAnnotation) { spec.json["behavior"] = behavior }

        let v1Status = object["status"] ?? .object(JSONObject())
        var status = HorizontalPodAutoscalerStatus()
        for key in ["observedGeneration", "lastScaleTime", "currentReplicas", "desiredReplicas"] { status.json[key] = v1Status[key] }
        var current: [MetricStatus] = []
        if let cpu = v1Status["currentCPUUtilizationPercentage"]?.intValue {
            var m = MetricStatus()
            m.type = .resource
            m.resource.name = "cpu"
            m.resource.current.averageUtilization = cpu
            current.append(m)
        }
        current += (take(currentMetricsAnnotation)?.arrayValue ?? []).map(MetricStatus.init(json:))
        status.currentMetrics = current
        if let conditions = take(conditionsAnnotation) { status.json["conditions"] = conditions }
        meta.annotations = annotations.isEmpty ? nil : annotations

        var hpa = HorizontalPodAutoscaler(json: ["kind": "HorizontalPodAutoscaler", "apiVersion": "autoscaling/v2"])
        hpa.metadata = meta
        hpa.spec = spec
        hpa.status = status
        return hpa.json
    }
}
