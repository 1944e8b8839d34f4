// The horizontal pod autoscaler's arithmetic against the cases Kubernetes' documentation
// ("Horizontal Pod Autoscaling", algorithm details and configurable scaling behavior) walks
// through: the ratio with its 10% tolerance, missing and unready pods, stabilization windows
// and rate policies. The controller around it is in HorizontalPodAutoscalerControllerTests.
import API
@testable import Controllers
import Foundation
import Testing

let hpaEpoch = Date(timeIntervalSince1970: 1_800_000_000)

/// A Running pod requesting `cpu`, Ready since long enough ago that its samples count.
func cpuPod(_ name: String, request: String = "100m", phase: PodPhase = .running, ready: Bool = true,
            readySince: Date = hpaEpoch.addingTimeInterval(-3600)) -> Pod {
    var pod = Pod.new(namespace: "default", name: name)
    pod.metadata.labels = ["app": "web"]
    var c = Container()
    c.name = "app"
    c.resources.requests = ["cpu": request, "memory": "100Mi"]
    pod.spec.containers = [c]
    pod.status.phase = phase
    pod.status.startTime = readySince.addingTimeInterval(-5)
    var condition = PodCondition()
    condition.type = "Ready"
    condition.status = ready ? .true : .false
    condition.lastTransitionTime = readySince
    pod.status.conditions = [condition]
    return pod
}

func samples(_ values: [String: Int64], at: Date = hpaEpoch) -> [String: PodUsageSample] {
    values.mapValues { PodUsageSample(milliValue: $0, timestamp: at, window: 15) }
}

@Suite struct ReplicaCalculatorTests {
    let calc = ReplicaCalculator()

    func replicas(_ current: Int64, target: Int64, _ usage: [String: Int64], pods: [Pod]) throws -> ReplicaCalculator.Result {
        try calc.utilizationReplicas(current: current, targetUtilization: target, samples: samples(usage), pods: pods, resource: "cpu", now: hpaEpoch)
    }

    @Test func ratioOfCurrentToTargetScalesTheCount() throws {
        // The docs: a current 200m against a desired 100m doubles the replicas; 50m halves them.
        let pods = (0..<2).map { cpuPod("p\($0)") }
        let up = try replicas(2, target: 100, ["p0": 200, "p1": 200], pods: pods)
        #expect(up.replicas == 4)
        #expect(up.utilization == 200)
        #expect(up.rawAverage == 200)
        #expect(try replicas(2, target: 100, ["p0": 50, "p1": 50], pods: pods).replicas == 1)
    }

    @Test func changesWithinTheToleranceKeepTheCount() throws {
        let pods = (0..<3).map { cpuPod("p\($0)") }
        #expect(try replicas(3, target: 50, ["p0": 54, "p1": 54, "p2": 54], pods: pods).replicas == 3)   // 108%: inside 10%
        #expect(try replicas(3, target: 50, ["p0": 56, "p1": 56, "p2": 56], pods: pods).replicas == 4)   // 112%: ceil(1.12 × 3)
    }

    @Test func missingPodsCountAsFullOnScaleDownAndIdleOnScaleUp() throws {
        let pods = (0..<4).map { cpuPod("p\($0)") }
        // Scale-down: two idle pods and two without samples (taken as using 100% of their request)
        // → (10+10+100+100)/400 = 55% of a 50% target: the assumption turns a scale-down into a
        // scale-up, so the count stays.
        #expect(try replicas(4, target: 50, ["p0": 10, "p1": 10], pods: pods).replicas == 4)
        // Without the missing ones it would have scaled to 1.
        #expect(try replicas(2, target: 50, ["p0": 10, "p1": 10], pods: Array(pods.prefix(2))).replicas == 1)
        // Scale-up: two hot pods, two missing (taken as 0): (150+150)/400 = 75% of 50% → ceil(1.5 × 4) = 6.
        #expect(try replicas(4, target: 50, ["p0": 150, "p1": 150], pods: pods).replicas == 6)
    }

    @Test func unreadyPodsAreTakenAsIdleWhenScalingUp() throws {
        let pods = [cpuPod("p0"), cpuPod("p1"), cpuPod("p2", ready: false, readySince: hpaEpoch.addingTimeInterval(-10))]
        // Ready pods at 200% of a 100% target; the unready one counts 0: 400/300 → ceil(1.33 × 3) = 4.
        #expect(try replicas(3, target: 100, ["p0": 200, "p1": 200, "p2": 300], pods: pods).replicas == 4)
        // Pending pods are unready too; ignored entirely on the way down.
        let pending = [cpuPod("p0"), cpuPod("p1"), cpuPod("p2", phase: .pending)]
        #expect(try replicas(3, target: 100, ["p0": 20, "p1": 20], pods: pending).replicas == 1)
    }

    @Test func deletedAndFailedPodsAreIgnored() throws {
        var deleting = cpuPod("p2")
        deleting.metadata.deletionTimestamp = hpaEpoch
        let pods = [cpuPod("p0"), cpuPod("p1"), deleting, cpuPod("p3", phase: .failed)]
        #expect(try replicas(2, target: 100, ["p0": 200, "p1": 200, "p2": 0, "p3": 0], pods: pods).replicas == 4)
    }

    @Test func aSampleTakenBeforeAWindowSinceReadinessIsNotTrusted() throws {
        // Ready 5 s ago, within the start-up period: a 15 s sample ending now covers the start.
        let fresh = cpuPod("p0", readySince: hpaEpoch.addingTimeInterval(-5))
        #expect(calc.cpuSampleUnready(fresh, samples(["p0": 100])["p0"]!, now: hpaEpoch))
        let settled = cpuPod("p0", readySince: hpaEpoch.addingTimeInterval(-60))
        #expect(!calc.cpuSampleUnready(settled, samples(["p0": 100])["p0"]!, now: hpaEpoch))
    }

    @Test func failuresSayWhatIsMissing() throws {
        #expect(throws: ReplicaCalculationError(description: "no pods returned by selector while calculating replica count")) {
            try replicas(1, target: 50, [:], pods: [])
        }
        #expect(throws: ReplicaCalculationError(description: "did not receive metrics for targeted pods (pods might be unready)")) {
            try replicas(1, target: 50, [:], pods: [cpuPod("p0", phase: .pending)])
        }
        var noRequest = cpuPod("p0")
        noRequest.spec.containers[0].resources.requests = nil
        #expect(throws: ReplicaCalculationError(description: "missing request for cpu in container app of Pod p0")) {
            try replicas(1, target: 50, ["p0": 10], pods: [noRequest])
        }
    }

    @Test func averageValueTargets() throws {
        let pods = (0..<2).map { cpuPod("p\($0)") }
        let r = try calc.averageValueReplicas(current: 2, targetMilli: 100, samples: samples(["p0": 300, "p1": 300]), pods: pods,
                                              resource: "cpu", now: hpaEpoch)
        #expect(r.replicas == 6)
        #expect(r.rawAverage == 300)
    }
}

@Suite struct HPANormalizerTests {
    let normalizer = HPANormalizer()

    @Test func withoutBehaviorTheHighestRecentRecommendationHoldsScaleDowns() {
        var history = HPAScalingHistory()
        history.recordInitial(5, now: hpaEpoch)
        let held = normalizer.normalize(history: &history, current: 5, desired: 2, min: 1, max: 10, now: hpaEpoch.addingTimeInterval(60))
        #expect(held.replicas == 5)
        #expect(held.conditions.first?.reason == "ScaleDownStabilized")
        // Five minutes after the last high recommendation, the scale-down goes through.
        let later = normalizer.normalize(history: &history, current: 5, desired: 2, min: 1, max: 10, now: hpaEpoch.addingTimeInterval(400))
        #expect(later.replicas == 2)
    }

    @Test func withoutBehaviorScaleUpIsLimitedToDoubleOrFour() {
        var history = HPAScalingHistory()
        let r = normalizer.normalize(history: &history, current: 3, desired: 20, min: 1, max: 30, now: hpaEpoch)
        #expect(r.replicas == 6)
        #expect(r.conditions.last == HPAConditionUpdate(type: "ScalingLimited", status: .true, reason: "ScaleUpLimit",
                                                        message: "the desired replica count is increasing faster than the maximum scale rate"))
        let capped = normalizer.normalize(history: &history, current: 3, desired: 20, min: 1, max: 5, now: hpaEpoch)
        #expect(capped.replicas == 5)
        #expect(capped.conditions.last?.reason == "TooManyReplicas")
    }

    func behavior(_ edit: (inout HorizontalPodAutoscalerBehavior) -> Void = { _ in }) -> HorizontalPodAutoscalerBehavior {
        var b = HorizontalPodAutoscalerBehavior()
        b.scaleUp = AutoscalingRules.defaultScaleUp
        b.scaleDown = AutoscalingRules.defaultScaleDown
        edit(&b)
        return b
    }

    @Test func defaultScaleUpAllowsTheLargerOfFourPodsOrDoubling() {
        var history = HPAScalingHistory()
        let small = normalizer.normalize(history: &history, behavior: behavior(), current: 1, desired: 10, min: 1, max: 100, now: hpaEpoch)
        #expect(small.replicas == 5)   // +4 pods beats +100%
        var history2 = HPAScalingHistory()
        let large = normalizer.normalize(history: &history2, behavior: behavior(), current: 10, desired: 50, min: 1, max: 100, now: hpaEpoch)
        #expect(large.replicas == 20)  // +100% beats +4 pods
    }

    @Test func docsScaleDownExampleTakesTheBiggerChange() {
        // The docs: Pods 4 / 60 s and Percent 10 / 60 s from 80 replicas: 10% is 8 pods, Max picks it.
        let b = behavior { b in
            b.scaleDown.stabilizationWindowSeconds = 0
            b.scaleDown.policies = [AutoscalingRules.policy(.pods, 4, 60), AutoscalingRules.policy(.percent, 10, 60)]
        }
        var history = HPAScalingHistory()
        let r = normalizer.normalize(history: &history, behavior: b, current: 80, desired: 10, min: 1, max: 100, now: hpaEpoch)
        #expect(r.replicas == 72)
        #expect(r.conditions.last?.reason == "ScaleDownLimit")
        // After that change, the 60 s period counts it: 80 − 8 again would be the start, so no further change yet.
        history.storeScaleEvent(from: 80, to: 72, behavior: b, now: hpaEpoch)
        let next = normalizer.normalize(history: &history, behavior: b, current: 72, desired: 10, min: 1, max: 100, now: hpaEpoch.addingTimeInterval(15))
        #expect(next.replicas == 72)
        // Min picks the smaller change (4 pods).
        var minimal = b
        minimal.scaleDown.selectPolicy = .min
        var fresh = HPAScalingHistory()
        #expect(normalizer.normalize(history: &fresh, behavior: minimal, current: 80, desired: 10, min: 1, max: 100, now: hpaEpoch).replicas == 76)
    }

    @Test func disabledDirectionNeverMoves() {
        let b = behavior { $0.scaleDown.selectPolicy = .disabled; $0.scaleDown.stabilizationWindowSeconds = 0 }
        var history = HPAScalingHistory()
        #expect(normalizer.normalize(history: &history, behavior: b, current: 8, desired: 2, min: 1, max: 10, now: hpaEpoch).replicas == 8)
    }

    @Test func scaleUpWindowAppliesTheLowestRecentRecommendation() {
        let b = behavior { $0.scaleUp.stabilizationWindowSeconds = 60 }
        var history = HPAScalingHistory()
        history.recordInitial(2, now: hpaEpoch)
        let r = normalizer.normalize(history: &history, behavior: b, current: 2, desired: 6, min: 1, max: 10, now: hpaEpoch.addingTimeInterval(10))
        #expect(r.replicas == 2)
        #expect(r.conditions.first?.reason == "ScaleUpStabilized")
        let later = normalizer.normalize(history: &history, behavior: b, current: 2, desired: 6, min: 1, max: 10, now: hpaEpoch.addingTimeInterval(75))
        #expect(later.replicas == 6)
    }
}
