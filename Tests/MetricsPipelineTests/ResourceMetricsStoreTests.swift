// metrics-server's storage rules: usage needs two readings, restarts and counters that go back
// are not compared, young containers count from their start, a pod needs every container.
import Foundation
import Testing
@testable import MetricsPipeline

@Suite struct ResourceMetricsStoreTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func point(start: Double = -3600, at t: Double, cpu: UInt64, memory: UInt64 = 50 << 20) -> MetricsPoint {
        MetricsPoint(startTime: t0.addingTimeInterval(start), timestamp: t0.addingTimeInterval(t), cumulativeCPUNanos: cpu, workingSetBytes: memory)
    }

    func batch(node: MetricsPoint? = nil, pods: [String: [ContainerPoint]] = [:]) -> MetricsBatch {
        var b = MetricsBatch()
        if let node { b.nodes["n1"] = node }
        for (name, containers) in pods { b.pods[MetricsBatch.PodKey(namespace: "ns", name: name)] = containers }
        return b
    }

    @Test func nodeUsageIsTheRateBetweenTwoReadings() {
        let store = ResourceMetricsStore(resolution: 15)
        store.store(batch(node: point(at: 0, cpu: 10_000_000_000)))
        #expect(store.nodeUsage("n1") == nil, "one reading is no window")
        store.store(batch(node: point(at: 15, cpu: 17_500_000_000, memory: 300 << 20)))
        let u = store.nodeUsage("n1")
        #expect(u?.usage.nanoCores == 500_000_000)
        #expect(u?.usage.workingSetBytes == 300 << 20)
        #expect(u?.windowNanos == 15_000_000_000)
        #expect(u?.timestamp == t0.addingTimeInterval(15))
        // The same reading again (the agent's clock did not move): the previous one stays the base.
        store.store(batch(node: point(at: 15, cpu: 17_500_000_000)))
        #expect(store.nodeUsage("n1")?.usage.nanoCores == 500_000_000)
        store.store(batch())
        #expect(store.nodeUsage("n1") == nil, "a node missing from the last scrape has no usage")
    }

    @Test func podUsagePerContainerWithTheEarliestWindow() {
        let store = ResourceMetricsStore(resolution: 15)
        store.store(batch(pods: ["web": [ContainerPoint(name: "app", point: point(at: 0, cpu: 1_000_000_000)),
                                         ContainerPoint(name: "side", point: point(at: 1, cpu: 0))]]))
        #expect(store.podUsage(namespace: "ns", name: "web") == nil)
        store.store(batch(pods: ["web": [ContainerPoint(name: "app", point: point(at: 10, cpu: 3_000_000_000, memory: 60 << 20)),
                                         ContainerPoint(name: "side", point: point(at: 9, cpu: 800_000_000, memory: 1 << 20))]]))
        let u = store.podUsage(namespace: "ns", name: "web")
        #expect(u?.containers.map(\.name) == ["app", "side"])
        #expect(u?.containers.first?.usage == Usage(nanoCores: 200_000_000, workingSetBytes: 60 << 20))
        #expect(u?.containers.last?.usage == Usage(nanoCores: 100_000_000, workingSetBytes: 1 << 20))
        #expect(u?.timestamp == t0.addingTimeInterval(9), "the earliest container's reading")
        #expect(u?.windowNanos == 8_000_000_000)
        #expect(store.podUsage(namespace: "other", name: "web") == nil)
    }

    @Test func aContainerWithoutTwoReadingsHidesThePod() {
        let store = ResourceMetricsStore(resolution: 15)
        store.store(batch(pods: ["web": [ContainerPoint(name: "app", point: point(at: 0, cpu: 0))]]))
        store.store(batch(pods: ["web": [ContainerPoint(name: "app", point: point(at: 15, cpu: 1_500_000_000)),
                                         ContainerPoint(name: "late", point: point(at: 15, cpu: 10))]]))
        #expect(store.podUsage(namespace: "ns", name: "web") == nil, "the sum would leave out `late`")
        store.store(batch(pods: ["web": [ContainerPoint(name: "app", point: point(at: 30, cpu: 3_000_000_000)),
                                         ContainerPoint(name: "late", point: point(at: 30, cpu: 15_000_010))]]))
        #expect(store.podUsage(namespace: "ns", name: "web")?.containers.map(\.usage.nanoCores) == [100_000_000, 1_000_000])
    }

    @Test func aRestartStartsOver() {
        let store = ResourceMetricsStore(resolution: 15)
        store.store(batch(pods: ["web": [ContainerPoint(name: "app", point: point(at: 0, cpu: 9_000_000_000))]]))
        // Started again after the last reading: its counter began from zero, no window to measure.
        store.store(batch(pods: ["web": [ContainerPoint(name: "app", point: point(start: 14.5, at: 15, cpu: 100_000))]]))
        #expect(store.podUsage(namespace: "ns", name: "web") == nil)
        store.store(batch(pods: ["web": [ContainerPoint(name: "app", point: point(start: 14.5, at: 30, cpu: 1_500_100_000))]]))
        #expect(store.podUsage(namespace: "ns", name: "web")?.containers.first?.usage.nanoCores == 100_000_000)
    }

    @Test func aCounterThatGoesBackIsNotCompared() {
        let store = ResourceMetricsStore(resolution: 15)
        store.store(batch(node: point(at: 0, cpu: 9_000_000_000), pods: ["web": [ContainerPoint(name: "app", point: point(at: 0, cpu: 9_000_000_000))]]))
        store.store(batch(node: point(at: 15, cpu: 1_000), pods: ["web": [ContainerPoint(name: "app", point: point(at: 15, cpu: 1_000))]]))
        #expect(store.nodeUsage("n1") == nil)
        #expect(store.podUsage(namespace: "ns", name: "web") == nil)
    }

    @Test func aYoungContainerCountsFromItsStart() {
        let store = ResourceMetricsStore(resolution: 15)
        // 12 s old at its first reading (at least 10 s, under one resolution): usage at once.
        store.store(batch(pods: ["new": [ContainerPoint(name: "app", point: point(start: -12, at: 0, cpu: 6_000_000_000))],
                                 "baby": [ContainerPoint(name: "app", point: point(start: -3, at: 0, cpu: 1_000_000))]]))
        let u = store.podUsage(namespace: "ns", name: "new")
        #expect(u?.containers.first?.usage.nanoCores == 500_000_000)
        #expect(u?.windowNanos == 12_000_000_000)
        #expect(store.podUsage(namespace: "ns", name: "baby") == nil, "3 s of history is too little to count")
    }
}
