// The horizontal pod autoscaler controller against in-memory twins of the scale subresource and
// the resource metrics API (their real twins — APIClient's scale calls and PodMetricsClient
// over metrics.k8s.io — run against skiff up in NodeRootTests/AutoscalingRootTests.swift): a
// rescale with its status and conditions, bounds, a missing target, metrics that fail, and
// selectors.
import API
import Client
@testable import Controllers
import Foundation
import Synchronization
import Testing

final class FakeScales: ScaleClient, @unchecked Sendable {
    private let state = Mutex<[String: Scale]>([:])
    private(set) var updates: [Int64] = []

    func put(_ name: String, replicas: Int64, selector: String = "app=web") {
        var s = Scale()
        s.metadata.name = name
        s.spec.replicas = replicas
        s.status.replicas = replicas
        s.status.selector = selector
        state.withLock { $0[name] = s }
    }

    func replicas(_ name: String) -> Int64? { state.withLock { $0[name]?.spec.replicas } }

    func scale(_ type: ResourceType, namespace: String, name: String) throws -> Scale {
        guard let s = state.withLock({ $0[name] }) else {
            throw APIStatusError(code: 404, reason: "NotFound", message: "\(type.plural).\(type.group) \"\(name)\" not found")
        }
        return s
    }

    func updateScale(_ type: ResourceType, namespace: String, _ scale: Scale) throws -> Scale {
        state.withLock { $0[scale.metadata.name ?? ""] = scale }
        updates.append(scale.spec.replicas ?? 0)
        return scale
    }
}

final class FakePodMetrics: PodMetricsSource, @unchecked Sendable {
    var usage: [String: Int64] = [:]
    var failure: Error?
    var at = hpaEpoch

    func usage(namespace: String, selector: String, resource: String, container: String?) throws -> [String: PodUsageSample] {
        if let failure { throw failure }
        return samples(usage, at: at)
    }
}

struct AutoscalerHarness {
    let clock = TestClock()
    let api: FakeObjectClient
    let scales = FakeScales()
    let metrics = FakePodMetrics()
    let controller: HorizontalPodAutoscalerController

    init() {
        let clock = self.clock
        api = FakeObjectClient(now: { clock.now })
        controller = HorizontalPodAutoscalerController(autoscalers: api.lister(HorizontalPodAutoscaler.self), pods: api.lister(Pod.self),
                                                       events: nil, syncPeriod: 3600, now: { clock.now })
    }

    @discardableResult
    func autoscaler(min: Int64 = 1, max: Int64 = 10, cpu: Int64 = 50, _ edit: (inout HorizontalPodAutoscaler) -> Void = { _ in }) -> HorizontalPodAutoscaler {
        var hpa = HorizontalPodAutoscaler.new(namespace: "default", name: "web")
        hpa.spec.scaleTargetRef.apiVersion = "apps/v1"
        hpa.spec.scaleTargetRef.kind = "Deployment"
        hpa.spec.scaleTargetRef.name = "web"
        hpa.spec.minReplicas = min
        hpa.spec.maxReplicas = max
        hpa.spec.metrics = [AutoscalingRules.cpuUtilizationMetric(cpu)]
        hpa.metadata.generation = 1
        edit(&hpa)
        #expect(AutoscalingRules.horizontalPodAutoscaler.validate(hpa.json).isEmpty)
        api.seed(hpa)
        return hpa
    }

    func pods(_ n: Int) { for i in 0..<n { api.seed(cpuPod("web-\(i)")) } }
    func sync() throws { try controller.sync("default/web", objects: api, scales: scales, metrics: metrics) }
    func status() throws -> HorizontalPodAutoscalerStatus {
        try #require(try api.get(HorizontalPodAutoscaler.self, namespace: "default", name: "web")).status
    }
    func condition(_ type: String) throws -> HorizontalPodAutoscalerCondition? { try status().conditions.first { $0.type == type } }
}

@Suite struct HorizontalPodAutoscalerControllerTests {
    @Test func hotPodsScaleTheTargetUpAndStatusSaysWhy() throws {
        let h = AutoscalerHarness()
        h.autoscaler()
        h.scales.put("web", replicas: 2)
        h.pods(2)
        h.metrics.usage = ["web-0": 100, "web-1": 150]   // 125% of requests against 50%
        try h.sync()
        #expect(h.scales.replicas("web") == 4)   // ceil(2.5 × 2) = 5, limited to 2× current
        let status = try h.status()
        #expect(status.currentReplicas == 2)
        #expect(status.desiredReplicas == 4)
        #expect(status.lastScaleTime == h.clock.now)
        #expect(status.observedGeneration == 1)
        #expect(status.currentMetrics.first?.resource.current.averageUtilization == 125)
        #expect(status.currentMetrics.first?.resource.current.averageValue == "125m")
        #expect(try h.condition("AbleToScale")?.reason == "SucceededRescale")
        #expect(try h.condition("ScalingActive")?.message == "the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)")
        #expect(try h.condition("ScalingLimited")?.reason == "ScaleUpLimit")
    }

    @Test func idlePodsWaitOutTheDownscaleWindow() throws {
        let h = AutoscalerHarness()
        h.autoscaler(min: 1)
        h.scales.put("web", replicas: 3)
        h.pods(3)
        h.metrics.usage = ["web-0": 1, "web-1": 1, "web-2": 1]
        try h.sync()
        #expect(h.scales.updates.isEmpty)
        #expect(try h.condition("AbleToScale")?.reason == "ScaleDownStabilized")
        h.clock.advance(301)
        h.metrics.at = h.clock.now
        try h.sync()
        #expect(h.scales.replicas("web") == 1)
        #expect(try h.status().desiredReplicas == 1)
    }

    @Test func replicasOutsideTheBoundsAreBroughtIn() throws {
        let h = AutoscalerHarness()
        h.autoscaler(min: 2, max: 4)
        h.scales.put("web", replicas: 7)
        h.pods(7)
        try h.sync()
        #expect(h.scales.replicas("web") == 4)
        h.scales.put("web", replicas: 1)
        try h.sync()
        #expect(h.scales.replicas("web") == 2)
    }

    @Test func aTargetScaledToZeroIsLeftAlone() throws {
        let h = AutoscalerHarness()
        h.autoscaler()
        h.scales.put("web", replicas: 0)
        try h.sync()
        #expect(h.scales.updates.isEmpty)
        #expect(try h.condition("ScalingActive")?.reason == "ScalingDisabled")
    }

    @Test func aMissingTargetIsAConditionNotACrash() throws {
        let h = AutoscalerHarness()
        h.autoscaler()
        try h.sync()
        let c = try #require(try h.condition("AbleToScale"))
        #expect(c.status == .false)
        #expect(c.reason == "FailedGetScale")
        #expect(c.message == "the HPA controller was unable to get the target's current scale: deployments.apps \"web\" not found")
        // A kind without a scale subresource, or one Skiff doesn't know.
        let h2 = AutoscalerHarness()
        h2.autoscaler { $0.spec.scaleTargetRef.kind = "ConfigMap"; $0.spec.scaleTargetRef.apiVersion = "v1" }
        try h2.sync()
        #expect(try h2.condition("AbleToScale")?.message?.contains("has no scale subresource") == true)
    }

    @Test func failingMetricsStopScalingAndSayWhy() throws {
        let h = AutoscalerHarness()
        h.autoscaler()
        h.scales.put("web", replicas: 2)
        h.pods(2)
        h.metrics.failure = APIStatusError(code: 404, reason: "NotFound", message: "the server could not find the requested resource")
        try h.sync()
        #expect(h.scales.updates.isEmpty)
        let c = try #require(try h.condition("ScalingActive"))
        #expect(c.status == .false)
        #expect(c.reason == "FailedGetResourceMetric")
        #expect(c.message == "the HPA was unable to compute the replica count: unable to get metrics for resource cpu: the server could not find the requested resource")
        #expect(try h.status().currentReplicas == 2)
    }

    @Test func unsupportedMetricTypesAreReported() throws {
        let h = AutoscalerHarness()
        h.autoscaler { hpa in
            var pods = MetricSpec()
            pods.type = .pods
            pods.json["pods"] = ["metric": ["name": "qps"], "target": ["type": "AverageValue", "averageValue": "10"]]
            hpa.spec.metrics = [pods]
        }
        h.scales.put("web", replicas: 2)
        h.pods(2)
        try h.sync()
        #expect(try h.condition("ScalingActive")?.reason == "FailedGetPodsMetric")
    }

    @Test func theLargestProposalAcrossMetricsWins() throws {
        let h = AutoscalerHarness()
        h.autoscaler(max: 20) { hpa in
            var memory = MetricSpec()
            memory.type = .resource
            memory.resource.name = "memory"
            memory.resource.target.type = .averageValue
            memory.resource.target.averageValue = "1000m"
            hpa.spec.metrics = [AutoscalingRules.cpuUtilizationMetric(100), memory]
        }
        h.scales.put("web", replicas: 4)
        h.pods(4)
        h.metrics.usage = ["web-0": 1500, "web-1": 1500, "web-2": 1500, "web-3": 1500]   // cpu 1500%, "memory" 1.5
        try h.sync()
        #expect(h.scales.replicas("web") == 8)   // cpu wants 60, limited to 2×
        #expect(try h.status().currentMetrics.count == 2)
    }

    @Test func aScaleWithoutSelectorIsInvalid() throws {
        let h = AutoscalerHarness()
        h.autoscaler()
        h.scales.put("web", replicas: 2, selector: "")
        try h.sync()
        #expect(try h.condition("ScalingActive")?.reason == "InvalidSelector")
    }
}

@Suite struct HorizontalPodAutoscalerResyncTests {
    @Test func anEarlySyncStartsNoSecondResyncChain() {
        let h = AutoscalerHarness()   // sync period 3600 s
        #expect(h.controller.scheduleResync("default/web", from: hpaEpoch))
        // A spec change syncs early: the periodic resync is already pending.
        #expect(!h.controller.scheduleResync("default/web", from: hpaEpoch.addingTimeInterval(60)))
        // The resync, firing at (or a hair before) its due time, schedules the next one.
        #expect(h.controller.scheduleResync("default/web", from: hpaEpoch.addingTimeInterval(3599.9)))
    }
}
