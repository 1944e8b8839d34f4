// What the horizontal pod autoscaler remembers between syncs and how it tempers a raw
// recommendation (kube-controller-manager's normalizeDesiredReplicas[WithBehaviors]): recent
// recommendations for the stabilization windows, recent scale changes for the rate policies,
// then the min/max bounds. Each step names the condition it sets (AbleToScale, ScalingLimited).
import API
import Foundation

struct HPAConditionUpdate: Equatable {
    var type: String
    var status: ConditionStatus
    var reason: String
    var message: String
}

/// The per-HPA memory of one controller process (lost on restart, as upstream's is).
struct HPAScalingHistory: Sendable {
    struct Recommendation { var replicas: Int64; var at: Date }
    struct ScaleEvent { var change: Int64; var at: Date; var outdated = false }

    var recommendations: [Recommendation] = []
    var scaleUps: [ScaleEvent] = []
    var scaleDowns: [ScaleEvent] = []

    /// The current size counts as a recommendation until there are others.
    mutating func recordInitial(_ current: Int64, now: Date) {
        if recommendations.isEmpty { recommendations = [Recommendation(replicas: current, at: now)] }
    }

    /// Adds a recommendation, reusing the slot of one older than every window.
    mutating func record(_ replicas: Int64, now: Date, olderThan cutoff: Date) {
        if let i = recommendations.firstIndex(where: { $0.at < cutoff }) {
            recommendations[i] = Recommendation(replicas: replicas, at: now)
        } else {
            recommendations.append(Recommendation(replicas: replicas, at: now))
        }
    }

    /// Remembers a rescale for the rate policies (only HPAs with a behavior use them).
    mutating func storeScaleEvent(from old: Int64, to new: Int64, behavior: HorizontalPodAutoscalerBehavior, now: Date) {
        let up = new > old
        let rules = up ? behavior.scaleUp : behavior.scaleDown
        let longest = TimeInterval(rules.policies.compactMap(\.periodSeconds).max() ?? 0)
        func store(_ events: inout [ScaleEvent]) {
            for i in events.indices where events[i].at < now.addingTimeInterval(-longest) { events[i].outdated = true }
            let event = ScaleEvent(change: abs(new - old), at: now)
            if let i = events.firstIndex(where: \.outdated) { events[i] = event } else { events.append(event) }
        }
        if up { store(&scaleUps) } else { store(&scaleDowns) }
    }

    static func change(in events: [ScaleEvent], period: Int64, now: Date) -> Int64 {
        let cutoff = now.addingTimeInterval(-TimeInterval(period))
        return events.filter { $0.at > cutoff && !$0.outdated }.reduce(0) { $0 + $1.change }
    }
}

struct HPANormalizer: Sendable {
    /// --horizontal-pod-autoscaler-downscale-stabilization (5 min).
    var downscaleStabilization: TimeInterval = 300

    struct Outcome: Equatable {
        var replicas: Int64
        var conditions: [HPAConditionUpdate]
    }

    /// For an HPA without a behavior: the highest recommendation of the downscale window, then
    /// the bounds, with the legacy scale-up limit of max(2× current, 4).
    func normalize(history: inout HPAScalingHistory, current: Int64, desired: Int64, min: Int64, max: Int64, now: Date) -> Outcome {
        let cutoff = now.addingTimeInterval(-downscaleStabilization)
        var stabilized = desired
        for r in history.recommendations where r.at >= cutoff { stabilized = Swift.max(stabilized, r.replicas) }
        history.record(desired, now: now, olderThan: cutoff)
        var conditions = [stabilized != desired
            ? HPAConditionUpdate(type: "AbleToScale", status: .true, reason: "ScaleDownStabilized",
                                 message: "recent recommendations were higher than current one, applying the highest recent recommendation")
            : HPAConditionUpdate(type: "AbleToScale", status: .true, reason: "ReadyForNewScale", message: "recommended size matches current size")]
        let scaleUpLimit = Swift.max(2 * current, 4)
        var limit = (max, "TooManyReplicas", "the desired replica count is more than the maximum replica count")
        if max > scaleUpLimit { limit = (scaleUpLimit, "ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate") }
        var replicas = stabilized
        var reason = ("DesiredWithinRange", "the desired count is within the acceptable range")
        if stabilized < min {
            replicas = min
            reason = ("TooFewReplicas", "the desired replica count is less than the minimum replica count")
        } else if stabilized > limit.0 {
            replicas = limit.0
            reason = (limit.1, limit.2)
        }
        conditions.append(HPAConditionUpdate(type: "ScalingLimited", status: replicas == stabilized ? .false : .true, reason: reason.0, message: reason.1))
        return Outcome(replicas: replicas, conditions: conditions)
    }

    /// For an HPA with a behavior: each direction's stabilization window, then its rate policies
    /// over the changes made in their periods, then the bounds.
    func normalize(history: inout HPAScalingHistory, behavior: HorizontalPodAutoscalerBehavior, current: Int64, desired: Int64,
                   min: Int64, max: Int64, now: Date) -> Outcome {
        let upWindow = TimeInterval(behavior.scaleUp.stabilizationWindowSeconds ?? 0)
        let downWindow = TimeInterval(behavior.scaleDown.stabilizationWindowSeconds.map(Double.init) ?? downscaleStabilization)
        let upCutoff = now.addingTimeInterval(-upWindow), downCutoff = now.addingTimeInterval(-downWindow)
        var upRecommendation = desired, downRecommendation = desired
        for r in history.recommendations {
            if r.at > upCutoff { upRecommendation = Swift.min(upRecommendation, r.replicas) }
            if r.at > downCutoff { downRecommendation = Swift.max(downRecommendation, r.replicas) }
        }
        let stabilized = Swift.min(Swift.max(current, upRecommendation), downRecommendation)
        history.record(desired, now: now, olderThan: Swift.min(upCutoff, downCutoff))
        var conditions: [HPAConditionUpdate]
        if stabilized == desired {
            conditions = [HPAConditionUpdate(type: "AbleToScale", status: .true, reason: "ReadyForNewScale", message: "recommended size matches current size")]
        } else if desired >= current {
            conditions = [HPAConditionUpdate(type: "AbleToScale", status: .true, reason: "ScaleUpStabilized",
                                             message: "recent recommendations were lower than current one, applying the lowest recent recommendation")]
        } else {
            conditions = [HPAConditionUpdate(type: "AbleToScale", status: .true, reason: "ScaleDownStabilized",
                                             message: "recent recommendations were higher than current one, applying the highest recent recommendation")]
        }
        var replicas = stabilized
        var reason = ("DesiredWithinRange", "the desired count is within the acceptable range")
        if stabilized > current {
            let rate = Swift.max(current, Self.rateLimit(current, history, behavior.scaleUp, up: true, now: now))
            let allowed = Swift.min(max, rate)
            if stabilized > allowed {
                replicas = allowed
                reason = max > rate ? ("ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate")
                    : ("TooManyReplicas", "the desired replica count is more than the maximum replica count")
            }
        } else if stabilized < current {
            let rate = Swift.min(current, Self.rateLimit(current, history, behavior.scaleDown, up: false, now: now))
            let allowed = Swift.max(min, rate)
            if stabilized < allowed {
                replicas = allowed
                reason = min < rate ? ("ScaleDownLimit", "the desired replica count is decreasing faster than the maximum scale rate")
                    : ("TooFewReplicas", "the desired replica count is less than the minimum replica count")
            }
        }
        conditions.append(HPAConditionUpdate(type: "ScalingLimited", status: replicas == stabilized ? .false : .true, reason: reason.0, message: reason.1))
        return Outcome(replicas: replicas, conditions: conditions)
    }

    /// The count the policies let a scale go to from `current`: up, the largest proposal
    /// (selectPolicy Max) or the smallest (Min); down, the smallest count (Max: the biggest
    /// change) or the largest (Min). Each policy starts from the count its period began with.
    static func rateLimit(_ current: Int64, _ history: HPAScalingHistory, _ rules: HPAScalingRules, up: Bool, now: Date) -> Int64 {
        if rules.selectPolicy == .disabled { return current }
        // Up with Max and down with Min keep the largest count; the other two the smallest.
        let keepLargest = up == (rules.selectPolicy != .min)
        var result: Int64 = keepLargest ? .min : .max
        for p in rules.policies {
            let period = p.periodSeconds ?? 0, value = Double(p.value ?? 0)
            let start = current - HPAScalingHistory.change(in: history.scaleUps, period: period, now: now)
                + HPAScalingHistory.change(in: history.scaleDowns, period: period, now: now)
            let proposed: Int64
            switch (p.type, up) {
            case (.pods?, true): proposed = start + (p.value ?? 0)
            case (.pods?, false): proposed = start - (p.value ?? 0)
            case (_, true): proposed = Int64((Double(start) * (1 + value / 100)).rounded(.up))   // rounded up, so a small set still grows
            case (_, false): proposed = Int64(Double(start) * (1 - value / 100))
            }
            result = keepLargest ? Swift.max(result, proposed) : Swift.min(result, proposed)
        }
        return result
    }
}
