// The horizontal pod autoscaler's replica arithmetic (kube-controller-manager's
// ReplicaCalculator): from the pods' usage samples and requests to a replica count. Pods being
// deleted or failed are ignored; pending pods, and for cpu pods not ready yet or still within
// their start-up period, count as unready; pods without a sample are missing. A scale-up then
// assumes unready and missing pods use nothing, a scale-down that missing ones use their whole
// request, and a change within the 10% tolerance, or one the assumptions would reverse, keeps
// the current count. Values are in milli-units (millicores, milli-bytes) as upstream computes.
import API
import Foundation

/// One pod's usage of a resource, summed over its containers.
struct PodUsageSample: Sendable, Equatable {
    var milliValue: Int64
    var timestamp: Date
    /// The interval the sample's rate was measured over.
    var window: TimeInterval
}

struct ReplicaCalculationError: Error, CustomStringConvertible, Equatable {
    var description: String
}

struct ReplicaCalculator: Sendable {
    var tolerance = 0.1
    /// --horizontal-pod-autoscaler-cpu-initialization-period (5 min).
    var cpuInitializationPeriod: TimeInterval = 300
    /// --horizontal-pod-autoscaler-initial-readiness-delay (30 s).
    var initialReadinessDelay: TimeInterval = 30

    struct Result: Equatable {
        var replicas: Int64
        /// Percent of the requests (Utilization targets), else 0.
        var utilization: Int64
        /// The average per pod, in milli-units.
        var rawAverage: Int64
    }

    struct PodGroups {
        var ready = 0
        var unready = Set<String>()
        var missing = Set<String>()
        var ignored = Set<String>()
    }

    func group(_ pods: [Pod], samples: [String: PodUsageSample], resource: String, now: Date) -> PodGroups {
        var g = PodGroups()
        for pod in pods {
            if pod.isBeingDeleted || pod.status.phase == .failed { g.ignored.insert(pod.name); continue }
            if pod.status.phase == .pending { g.unready.insert(pod.name); continue }
            guard let sample = samples[pod.name] else { g.missing.insert(pod.name); continue }
            if resource == "cpu" && cpuSampleUnready(pod, sample, now: now) { g.unready.insert(pod.name); continue }
            g.ready += 1
        }
        return g
    }

    /// A cpu sample is not trusted while the pod starts: unready, or taken before one window
    /// had passed since it became ready; after the start-up period only a pod never ready is.
    func cpuSampleUnready(_ pod: Pod, _ sample: PodUsageSample, now: Date) -> Bool {
        guard let ready = pod.status.conditions.first(where: { $0.type == "Ready" }), let start = pod.status.startTime else { return true }
        let transition = ready.lastTransitionTime ?? start
        if start.addingTimeInterval(cpuInitializationPeriod) > now {
            return ready.status == .false || sample.timestamp < transition.addingTimeInterval(sample.window)
        }
        return ready.status == .false && start.addingTimeInterval(initialReadinessDelay) > transition
    }

    /// Each pod's summed request of `resource` (milli-units); a container without one is an error.
    func requests(_ pods: [Pod], resource: String, container: String? = nil) throws -> [String: Int64] {
        var out: [String: Int64] = [:]
        for pod in pods {
            var total: Int64 = 0
            for c in pod.spec.containers where container == nil || c.name == container {
                guard let text = c.resources.requests?[resource], let q = try? Quantity(parsing: text) else {
                    throw ReplicaCalculationError(description: "missing request for \(resource) in container \(c.name ?? "") of Pod \(pod.name)")
                }
                total += q.milliValue
            }
            out[pod.name] = total
        }
        return out
    }

    /// Utilization targets (percent of the requests).
    func utilizationReplicas(current: Int64, targetUtilization: Int64, samples: [String: PodUsageSample], pods: [Pod],
                             resource: String, container: String? = nil, now: Date) throws -> Result {
        guard !pods.isEmpty else { throw ReplicaCalculationError(description: "no pods returned by selector while calculating replica count") }
        let g = group(pods, samples: samples, resource: resource, now: now)
        var usage = samples.mapValues(\.milliValue).filter { !g.ignored.contains($0.key) && !g.unready.contains($0.key) }
        guard !usage.isEmpty else { throw ReplicaCalculationError(description: "did not receive metrics for targeted pods (pods might be unready)") }
        let requests = try self.requests(pods, resource: resource, container: container)
        let first = try Self.utilizationRatio(usage, requests: requests, target: targetUtilization)
        let result = Result(replicas: current, utilization: first.utilization, rawAverage: first.rawAverage)
        let scaleUpWithUnready = !g.unready.isEmpty && first.ratio > 1
        if !scaleUpWithUnready && g.missing.isEmpty {
            if abs(1 - first.ratio) <= tolerance { return result }
            return Result(replicas: Int64((first.ratio * Double(g.ready)).rounded(.up)), utilization: first.utilization, rawAverage: first.rawAverage)
        }
        if first.ratio < 1 {
            // A scale-down assumes missing pods use their whole request (or the target, above 100%).
            let fallback = max(100, targetUtilization)
            for name in g.missing { usage[name] = (requests[name] ?? 0) * fallback / 100 }
        } else if first.ratio > 1 {
            for name in g.missing { usage[name] = 0 }
        }
        if scaleUpWithUnready { for name in g.unready { usage[name] = 0 } }
        let second = try Self.utilizationRatio(usage, requests: requests, target: targetUtilization)
        return Result(replicas: settle(current: current, first: first.ratio, second: second.ratio, entities: usage.count),
                      utilization: first.utilization, rawAverage: first.rawAverage)
    }

    /// AverageValue targets (milli-units per pod).
    func averageValueReplicas(current: Int64, targetMilli: Int64, samples: [String: PodUsageSample], pods: [Pod],
                              resource: String, now: Date) throws -> Result {
        guard !pods.isEmpty else { throw ReplicaCalculationError(description: "no pods returned by selector while calculating replica count") }
        let g = group(pods, samples: samples, resource: resource, now: now)
        var usage = samples.mapValues(\.milliValue).filter { !g.ignored.contains($0.key) && !g.unready.contains($0.key) }
        guard !usage.isEmpty else { throw ReplicaCalculationError(description: "did not receive metrics for targeted pods (pods might be unready)") }
        let first = Self.averageRatio(usage, target: targetMilli)
        let scaleUpWithUnready = !g.unready.isEmpty && first.ratio > 1
        if !scaleUpWithUnready && g.missing.isEmpty {
            if abs(1 - first.ratio) <= tolerance { return Result(replicas: current, utilization: 0, rawAverage: first.average) }
            return Result(replicas: Int64((first.ratio * Double(g.ready)).rounded(.up)), utilization: 0, rawAverage: first.average)
        }
        for name in g.missing { usage[name] = first.ratio < 1 ? targetMilli : 0 }
        if scaleUpWithUnready { for name in g.unready { usage[name] = 0 } }
        let second = Self.averageRatio(usage, target: targetMilli)
        return Result(replicas: settle(current: current, first: first.ratio, second: second.ratio, entities: usage.count),
                      utilization: 0, rawAverage: first.average)
    }

    /// After filling in unready and missing pods: keep the count when the change is within the
    /// tolerance or the direction flipped.
    func settle(current: Int64, first: Double, second: Double, entities: Int) -> Int64 {
        if abs(1 - second) <= tolerance || (first < 1 && second > 1) || (first > 1 && second < 1) { return current }
        let proposed = Int64((second * Double(entities)).rounded(.up))
        if (second < 1 && proposed > current) || (second > 1 && proposed < current) { return current }
        return proposed
    }

    /// GetResourceUtilizationRatio: usage over requests, in whole percent, against the target.
    static func utilizationRatio(_ usage: [String: Int64], requests: [String: Int64], target: Int64) throws -> (ratio: Double, utilization: Int64, rawAverage: Int64) {
        var used: Int64 = 0, requested: Int64 = 0, entities: Int64 = 0
        for (name, value) in usage {
            guard let request = requests[name] else { continue }
            used += value
            requested += request
            entities += 1
        }
        guard requested > 0 else { throw ReplicaCalculationError(description: "no metrics returned matched known pods") }
        let utilization = used * 100 / requested
        return (Double(utilization) / Double(target), utilization, used / entities)
    }

    static func averageRatio(_ usage: [String: Int64], target: Int64) -> (ratio: Double, average: Int64) {
        let average = usage.values.reduce(0, +) / Int64(max(1, usage.count))
        return (Double(average) / Double(target), average)
    }
}
