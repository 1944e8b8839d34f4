import Foundation
import Testing
@testable import API

@Suite struct ResourceMetricsTests {
    /// Go's Duration.String() for the windows metrics-server writes.
    @Test(arguments: [
        (Int64(0), "0s"), (15_000_000_000, "15s"), (15_012_345_678, "15.012345678s"), (15_010_000_000, "15.01s"),
        (60_000_000_000, "1m0s"), (90_500_000_000, "1m30.5s"), (3_600_000_000_000, "1h0m0s"), (250_000_000, "250ms"),
        (1_500, "1.5µs"), (999, "999ns"), (-2_000_000_000, "-2s"), (1_000_500_000, "1.0005s"),
    ])
    func goDurations(nanoseconds: Int64, text: String) {
        #expect(GoDuration.format(nanoseconds: nanoseconds) == text)
        #expect(GoDuration.parse(text) == nanoseconds)
    }

    @Test func malformedDurationsAreNil() {
        for text in ["", "15", "s", "1x", "1.2.3s", "--1s"] { #expect(GoDuration.parse(text) == nil, "\(text)") }
    }

    /// resource.NewScaledQuantity's canonical text: nanocores of cpu, binary bytes of memory.
    @Test func scaledQuantities() {
        #expect(Quantity(123_456, scale: -9).description == "123456n")
        #expect(Quantity(1_000_000, scale: -9).description == "1m")
        #expect(Quantity(2_000_000_000, scale: -9).description == "2")
        #expect(Quantity(0, scale: -9).description == "0")
        #expect(Quantity(52_428_800, format: .binarySI).description == "50Mi")
        #expect(Quantity(4096 * 3, format: .binarySI).description == "12Ki")
        #expect(Quantity(1_234_567, format: .binarySI).description == "1234567")
        #expect(Quantity(250_000_000, scale: -9).milliValue == 250)
    }

    @Test func podUsageSumsContainersInThousandths() {
        var pod = PodMetrics.new(namespace: "ns", name: "web")
        var a = ContainerMetrics()
        a.name = "a"
        a.usage = ["cpu": "250000000n", "memory": "10Mi"]
        var b = ContainerMetrics()
        b.name = "b"
        b.usage = ["cpu": "1500000n", "memory": "1Mi"]
        pod.containers = [a, b]
        #expect(pod.milliUsage(of: "cpu") == 252)
        let memory: Int64 = 11 * 1_048_576 * 1000
        #expect(pod.milliUsage(of: "memory") == memory)
        #expect(pod.milliUsage(of: "ephemeral-storage") == nil)
        #expect(pod.json["apiVersion"] == "metrics.k8s.io/v1beta1")
        #expect(PodMetrics.resource.plural == "pods" && PodMetrics.resource.group == "metrics.k8s.io")
        #expect(NodeMetrics.resource.verbs == ["get", "list"] && !NodeMetrics.resource.namespaced)
        #expect(APIService.resource.plural == "apiservices" && APIService.resource.verbs.contains("create"))
    }
}
