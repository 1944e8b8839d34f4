// The horizontal pod autoscaler (kube-controller-manager's): every sync period each HPA reads
// its target's scale, its pods' usage from the resource metrics API, proposes a replica count
// per metric (the largest wins), tempers it (stabilization windows, rate policies, min/max) and
// writes the scale. Status carries the current metrics and the AbleToScale, ScalingActive and
// ScalingLimited conditions; rescales and failures are events. Resource and ContainerResource
// metrics are supported; Pods, Object and External ones need a custom metrics API Skiff does
// not serve, and report so in ScalingActive.
import API
import Client
import Foundation
import Synchronization

/// Pods' usage of one resource from the resource metrics API (metrics.k8s.io).
protocol PodMetricsSource: AnyObject {
    /// Samples by pod name, summed over the pod's containers (or only `container`'s).
    func usage(namespace: String, selector: String, resource: String, container: String?) throws -> [String: PodUsageSample]
}

final class HorizontalPodAutoscalerController: Controller, InitialKeys, @unchecked Sendable {
    let name = "horizontal-pod-autoscaler"
    let queue = WorkQueue()
    let autoscalers: Lister<HorizontalPodAutoscaler>
    let pods: Lister<Pod>
    let events: EventRecorder?
    /// --horizontal-pod-autoscaler-sync-period (15 s).
    let syncPeriod: TimeInterval
    var calculator = ReplicaCalculator()
    var normalizer = HPANormalizer()
    let now: @Sendable () -> Date
    private let histories = Mutex<[String: HPAScalingHistory]>([:])
    /// When each HPA's periodic resync is due: an early sync (a spec change) starts no second chain.
    private let resyncs = Mutex<[String: Date]>([:])

    init(autoscalers: Lister<HorizontalPodAutoscaler>, pods: Lister<Pod>, events: EventRecorder?, syncPeriod: TimeInterval = 15,
         now: @escaping @Sendable () -> Date = { Date() }) {
        self.autoscalers = autoscalers
        self.pods = pods
        self.events = events
        self.syncPeriod = syncPeriod
        self.now = now
    }

    func watch(_ informer: Informer) {
        informer.onChange(HorizontalPodAutoscaler.self) { [self] old, new in
            guard let hpa = new ?? old else { return }
            // Only spec changes (and new HPAs) sync early; the status writes of our own syncs don't.
            if old == nil || new == nil || old?.spec.json != new?.spec.json { queue.add(hpa.key) }
        }
    }

    func initialKeys() -> [String] { autoscalers.list().map(\.key) }

    func sync(_ key: String, client: APIClient) throws {
        try sync(key, objects: client, scales: client, metrics: PodMetricsClient(client: client))
    }

    func sync(_ key: String, objects: ObjectClient, scales: ScaleClient, metrics: PodMetricsSource) throws {
        guard let hpa = autoscalers.get(key) else {
            histories.withLock { _ = $0.removeValue(forKey: key) }
            resyncs.withLock { _ = $0.removeValue(forKey: key) }
            return
        }
        let at = now()
        defer { scheduleResync(key, from: at) }
        var updated = hpa
        let rescaled = reconcile(&updated, scales: scales, metrics: metrics, now: at)
        updated.status.observedGeneration = hpa.metadata.generation
        if rescaled { updated.status.lastScaleTime = at }
        if updated.status.json != hpa.status.json { _ = try objects.updateStatus(updated) }
    }

    /// True when this call started the key's next periodic resync.
    @discardableResult
    func scheduleResync(_ key: String, from at: Date) -> Bool {
        let due = resyncs.withLock { due -> Bool in
            // (A timer may fire a hair before its due time by the wall clock: that one reschedules.)
            if let next = due[key], next > at.addingTimeInterval(min(1, syncPeriod / 2)) { return false }
            due[key] = at.addingTimeInterval(syncPeriod)
            return true
        }
        if due { queue.addAfter(key, syncPeriod) }
        return due
    }

    /// One pass over an HPA: its status is updated in place; true when the target was rescaled.
    func reconcile(_ hpa: inout HorizontalPodAutoscaler, scales: ScaleClient, metrics: PodMetricsSource, now: Date) -> Bool {
        let ref = hpa.spec.scaleTargetRef
        let scale: Scale
        let targetType: ResourceType
        do {
            targetType = try Self.targetType(ref, scales: scales)
            scale = try scales.scale(targetType, namespace: hpa.namespace, name: ref.name ?? "")
        } catch {
            set(&hpa, "AbleToScale", .false, "FailedGetScale", "the HPA controller was unable to get the target's current scale: \(error)", now: now)
            events?.object(hpa, type: "Warning", reason: "FailedGetScale", message: "\(error)")
            return false
        }
        set(&hpa, "AbleToScale", .true, "SucceededGetScale", "the HPA controller was able to get the target's current scale", now: now)
        let current = scale.spec.replicas ?? 0
        let minReplicas = hpa.spec.minReplicas ?? 1
        let maxReplicas = hpa.spec.maxReplicas ?? minReplicas
        histories.withLock { $0[hpa.key, default: HPAScalingHistory()].recordInitial(current, now: now) }

        var desired: Int64 = 0
        var reason = ""
        var statuses: [MetricStatus] = []
        if current == 0 && minReplicas != 0 {
            set(&hpa, "ScalingActive", .false, "ScalingDisabled", "scaling is disabled since the replica count of the target is zero", now: now)
            hpa.status.currentReplicas = current
            hpa.status.desiredReplicas = 0
            return false
        } else if current > maxReplicas {
            (desired, reason) = (maxReplicas, "Current number of replicas above Spec.MaxReplicas")
        } else if current < minReplicas {
            (desired, reason) = (minReplicas, "Current number of replicas below Spec.MinReplicas")
        } else {
            guard let proposal = replicasForMetrics(&hpa, scale: scale, metrics: metrics, statuses: &statuses, now: now) else {
                hpa.status.currentReplicas = current
                hpa.status.currentMetrics = statuses
                return false
            }
            desired = proposal.replicas
            if desired > current { reason = "\(proposal.metric) above target" }
            if desired < current { reason = "All metrics below target" }
            let outcome = histories.withLock { all -> HPANormalizer.Outcome in
                var history = all[hpa.key, default: HPAScalingHistory()]
                defer { all[hpa.key] = history }
                if hpa.spec.hasBehavior {
                    return normalizer.normalize(history: &history, behavior: hpa.spec.behavior, current: current, desired: desired,
                                                min: minReplicas, max: maxReplicas, now: now)
                }
                return normalizer.normalize(history: &history, current: current, desired: desired, min: minReplicas, max: maxReplicas, now: now)
            }
            for c in outcome.conditions { set(&hpa, c.type, c.status, c.reason, c.message, now: now) }
            desired = outcome.replicas
        }
        hpa.status.currentReplicas = current
        hpa.status.currentMetrics = statuses
        guard desired != current else {
            hpa.status.desiredReplicas = current
            return false
        }
        var resized = scale
        resized.spec.replicas = desired
        do {
            _ = try scales.updateScale(targetType, namespace: hpa.namespace, resized)
        } catch {
            events?.object(hpa, type: "Warning", reason: "FailedRescale", message: "New size: \(desired); reason: \(reason); error: \(error)")
            set(&hpa, "AbleToScale", .false, "FailedUpdateScale", "the HPA controller was unable to update the target scale: \(error)", now: now)
            hpa.status.desiredReplicas = current
            return false
        }
        set(&hpa, "AbleToScale", .true, "SucceededRescale", "the HPA controller was able to update the target scale to \(desired)", now: now)
        events?.object(hpa, reason: "SuccessfulRescale", message: "New size: \(desired); reason: \(reason)")
        if hpa.spec.hasBehavior {
            histories.withLock { $0[hpa.key, default: HPAScalingHistory()].storeScaleEvent(from: current, to: desired, behavior: hpa.spec.behavior, now: now) }
        }
        hpa.status.desiredReplicas = desired
        return true
    }

    /// The largest proposal over the metrics, and which metric made it; nil (with ScalingActive
    /// False) when every metric failed, or some did and the rest would scale down.
    func replicasForMetrics(_ hpa: inout HorizontalPodAutoscaler, scale: Scale, metrics: PodMetricsSource, statuses: inout [MetricStatus],
                            now: Date) -> (replicas: Int64, metric: String)? {
        let current = scale.spec.replicas ?? 0
        guard let selector = scale.status.selector, !selector.isEmpty else {
            set(&hpa, "ScalingActive", .false, "InvalidSelector", "the HPA target's scale is missing a selector", now: now)
            events?.object(hpa, type: "Warning", reason: "SelectorRequired", message: "selector is required")
            return nil
        }
        guard let parsed = try? LabelSelector(parsing: selector) else {
            set(&hpa, "ScalingActive", .false, "InvalidSelector", "the HPA target's scale has an invalid selector: \(selector)", now: now)
            events?.object(hpa, type: "Warning", reason: "InvalidSelector", message: "couldn't convert selector into a corresponding internal selector object: \(selector)")
            return nil
        }
        let selected = pods.list(namespace: hpa.namespace).filter { parsed.matches($0.metadata.labels ?? [:]) }
        var best: (replicas: Int64, metric: String)?
        var failures: [(reason: String, message: String)] = []
        statuses = []
        for spec in hpa.spec.metrics {
            do {
                let (replicas, metric, status) = try replicasForMetric(spec, current: current, selector: selector, pods: selected,
                                                                        namespace: hpa.namespace, metrics: metrics, now: now)
                statuses.append(status)
                if best == nil || replicas > best!.replicas { best = (replicas, metric) }
            } catch let failure as MetricFailure {
                failures.append((failure.reason, failure.message))
                events?.object(hpa, type: "Warning", reason: failure.reason, message: failure.message)
                var empty = MetricStatus()
                empty.type = spec.type
                statuses.append(empty)
            } catch {
                failures.append(("FailedGetResourceMetric", "\(error)"))
            }
        }
        if let first = failures.first, failures.count >= hpa.spec.metrics.count || (best?.replicas ?? 0) < current {
            set(&hpa, "ScalingActive", .false, first.reason, "the HPA was unable to compute the replica count: \(first.message)", now: now)
            events?.object(hpa, type: "Warning", reason: "FailedComputeMetricsReplicas",
                           message: "invalid metrics (\(failures.count) invalid out of \(hpa.spec.metrics.count)), first error is: \(first.message)")
            return nil
        }
        guard let best else { return nil }
        set(&hpa, "ScalingActive", .true, "ValidMetricFound", "the HPA was able to successfully calculate a replica count from \(best.metric)", now: now)
        return best
    }

    struct MetricFailure: Error {
        var reason: String
        var message: String
    }

    func replicasForMetric(_ spec: MetricSpec, current: Int64, selector: String, pods: [Pod], namespace: String,
                           metrics: PodMetricsSource, now: Date) throws -> (Int64, String, MetricStatus) {
        let resource: String, container: String?, target: MetricTarget, failReason: String
        switch spec.type {
        case .resource?:
            (resource, container, target, failReason) = (spec.resource.name ?? "", nil, spec.resource.target, "FailedGetResourceMetric")
        case .containerResource?:
            (resource, container, target, failReason) = (spec.containerResource.name ?? "", spec.containerResource.container,
                                                          spec.containerResource.target, "FailedGetContainerResourceMetric")
        case let other:
            let type = other?.rawValue ?? ""
            throw MetricFailure(reason: "FailedGet\(type)Metric",
                                message: "unable to get \(type) metric: the custom and external metrics APIs are not served by Skiff")
        }
        let samples: [String: PodUsageSample]
        do {
            samples = try metrics.usage(namespace: namespace, selector: selector, resource: resource, container: container)
        } catch {
            throw MetricFailure(reason: failReason, message: "unable to get metrics for resource \(resource): \(error)")
        }
        var value = MetricValueStatus()
        let result: ReplicaCalculator.Result
        let metricName: String
        do {
            if let text = target.averageValue, let q = try? Quantity(parsing: text) {
                result = try calculator.averageValueReplicas(current: current, targetMilli: q.milliValue, samples: samples, pods: pods,
                                                             resource: resource, now: now)
                metricName = container == nil ? "\(resource) resource" : "\(resource) container resource"
            } else {
                let utilization = target.averageUtilization ?? AutoscalingRules.defaultCPUUtilization
                result = try calculator.utilizationReplicas(current: current, targetUtilization: utilization, samples: samples,
                                                            pods: pods, resource: resource, container: container, now: now)
                value.averageUtilization = result.utilization
                metricName = container != nil ? "\(resource) container resource utilization (percentage of request)"
                    : "\(resource) resource utilization (percentage of request)"
            }
        } catch {
            throw MetricFailure(reason: failReason, message: "failed to get \(resource) utilization: \(error)")
        }
        value.averageValue = Self.milliQuantity(result.rawAverage)
        var status = MetricStatus()
        status.type = spec.type
        if let container {
            status.containerResource.name = resource
            status.containerResource.container = container
            status.containerResource.current = value
        } else {
            status.resource.name = resource
            status.resource.current = value
        }
        return (result.replicas, metricName, status)
    }

    /// A milli-unit amount as a canonical quantity ("250m", "64Mi" stays in bytes: "67108864").
    static func milliQuantity(_ milli: Int64) -> String {
        (try? Quantity(parsing: "\(milli)m"))?.description ?? "\(milli)m"
    }

    /// The resource a scale target reference names, if it has a scale subresource.
    /// (Custom resources are found through the server's discovery: `scales` resolves them.)
    static func targetType(_ ref: CrossVersionObjectReference, scales: ScaleClient) throws -> ResourceType {
        let apiVersion = ref.apiVersion ?? "v1"
        let kind = ref.kind ?? ""
        guard let type = try scales.resource(apiVersion: apiVersion, kind: kind) else {
            let group = apiVersion.contains("/") ? String(apiVersion.split(separator: "/")[0]) : ""
            throw ReplicaCalculationError(description: "unable to determine resource for scale target reference: no matches for kind \"\(kind)\" in group \"\(group)\"")
        }
        guard type.subresources.keys.contains("scale") else {
            throw ReplicaCalculationError(description: "\(type.plural)\(type.group.isEmpty ? "" : "." + type.group) \"\(ref.name ?? "")\" has no scale subresource")
        }
        return type
    }

    func set(_ hpa: inout HorizontalPodAutoscaler, _ type: String, _ status: ConditionStatus, _ reason: String, _ message: String, now: Date) {
        var conditions = hpa.status.conditions
        conditions.set(type, status, reason: reason, message: message, now: now)
        hpa.status.conditions = conditions
    }
}
