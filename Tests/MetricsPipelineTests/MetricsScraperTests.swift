// The scraper against in-process stats bodies (its real fetch, over HTTP to a node server, is
// tested with the master in APIServerTests and NodeRootTests): Ready nodes only, all at once,
// a hung node cut off at the timeout, bad bodies refused, failures logged once.
import API
import Foundation
import Synchronization
import Testing
@testable import MetricsPipeline

@Suite struct MetricsScraperTests {
    static func node(_ name: String, ready: Bool = true, port: Int64? = 10250) -> Node {
        var n = Node.new(name: name)
        var address = NodeAddress()
        address.type = "InternalIP"
        address.address = "127.0.0.1"
        n.status.addresses = [address]
        n.status.daemonEndpoints.kubeletEndpoint.port = port
        var condition = NodeCondition()
        condition.type = "Ready"
        condition.status = ready ? .true : .false
        n.status.conditions = [condition]
        return n
    }

    /// A /stats/summary body as the agent writes it (microsecond times).
    static func summary(node: String, time: String, cpu: Int64, pods: Int = 1) -> [UInt8] {
        let podEntries = (0..<pods).map { i in
            """
            {"podRef":{"name":"web-\(i)","namespace":"shop","uid":"u\(i)"},"startTime":"2027-01-15T08:00:00Z",
             "containers":[{"name":"app","startTime":"2027-01-15T08:00:00Z",
               "cpu":{"time":"\(time)","usageCoreNanoSeconds":\(cpu),"usageNanoCores":5},
               "memory":{"time":"\(time)","usageBytes":70000000,"workingSetBytes":62914560},"logs":{},"rootfs":{}},
               {"name":"no-cpu-yet","memory":{"workingSetBytes":1}}],
             "cpu":{"time":"\(time)","usageCoreNanoSeconds":\(cpu)},"network":{"time":"\(time)","interfaces":[]}}
            """
        }
        return Array("""
            {"node":{"nodeName":"\(node)","startTime":"2027-01-15T07:00:00Z",
              "cpu":{"time":"\(time)","usageCoreNanoSeconds":\(cpu * 10)},"memory":{"time":"\(time)","workingSetBytes":1073741824},
              "fs":{"availableBytes":1}},
             "pods":[\(podEntries.joined(separator: ","))]}
            """.utf8)
    }

    @Test func decodesReadingsOnce() throws {
        let r = try MetricsScraper.decode(Self.summary(node: "n1", time: "2027-01-15T09:00:00.250000Z", cpu: 4_000_000_000, pods: 3))
        #expect(r.node?.cumulativeCPUNanos == 40_000_000_000)
        #expect(r.node?.workingSetBytes == 1 << 30)
        #expect(r.node?.timestamp == KubeTime.parse("2027-01-15T09:00:00.25Z"))
        #expect(r.pods.map(\.0.name) == ["web-0", "web-1", "web-2"])
        let app = r.pods.first?.1
        #expect(app?.map(\.name) == ["app"], "a container without a CPU reading is left out")
        #expect(app?.first?.point.startTime == KubeTime.parse("2027-01-15T08:00:00Z"))
        #expect(app?.first?.point.workingSetBytes == 62_914_560)
    }

    @Test(arguments: ["", "not json", "[1,2]", "{\"node\": "])
    func malformedBodiesAreErrors(body: String) {
        #expect(throws: ScrapeError.self) { try MetricsScraper.decode(Array(body.utf8)) }
    }

    @Test func wrongShapesReadAsNothing() throws {
        let r = try MetricsScraper.decode(Array(#"{"node": 5, "pods": [{"podRef": 1}, "x"]}"#.utf8))
        #expect(r.node == nil && r.pods.isEmpty)
    }

    @Test func oneHungNodeCostsOnlyItsOwnReading() async throws {
        let logged = Mutex<[String]>([])
        let clock = Mutex(0)
        let hung = Mutex(true)
        let cutOff = Mutex(false)
        let store = ResourceMetricsStore(resolution: 1)
        let nodes = [Self.node("good"), Self.node("hung"), Self.node("garbage"), Self.node("down", ready: false), Self.node("noport", port: nil)]
        let scraper = MetricsScraper(store: store, resolution: 1, nodes: { nodes }, fetch: { target in
            switch target.node {
            case "good":
                let tick = clock.withLock { $0 += 1; return $0 }
                return Self.summary(node: "good", time: "2027-01-15T09:00:0\(tick).000000Z", cpu: Int64(tick) * 500_000_000)
            case "hung":
                if hung.withLock({ $0 }) {
                    do { try await Task.sleep(for: .seconds(300)) } catch { cutOff.withLock { $0 = true }; throw error }
                }
                return Self.summary(node: "hung", time: "2027-01-15T09:00:00.000000Z", cpu: 1)
            case "garbage": return Array("<html>".utf8)
            default:
                Issue.record("\(target.node) is not Ready or has no port: it must not be scraped")
                return []
            }
        }, log: { line in logged.withLock { $0.append(line) } })

        let first = await scraper.scrapeOnce()
        // Cut off at 0.9 s: the hung fetch is cancelled rather than slept out. (No wall-clock
        // bound: on a loaded CI machine blocking tests starve the cooperative pool for minutes.)
        #expect(cutOff.withLock { $0 }, "the hung node is cut off at 90% of the resolution")
        #expect(first.nodes.keys.sorted() == ["good"])
        #expect(first.pods.count == 1)
        _ = await scraper.scrapeOnce()
        #expect(store.nodeUsage("good")?.usage.nanoCores == 5_000_000_000, "10 × 0.5 s of CPU per second")
        #expect(store.podUsage(namespace: "shop", name: "web-0")?.containers.first?.usage.nanoCores == 500_000_000)
        #expect(store.nodeUsage("hung") == nil)
        let failures = logged.withLock { $0 }
        #expect(failures.count == 2, "each failing node is logged once, not every cycle: \(failures)")
        #expect(failures.contains { $0.contains("hung") && $0.contains("no answer within 900ms") })
        #expect(failures.contains { $0.contains("garbage") && $0.contains("not valid JSON") })

        hung.withLock { $0 = false }
        _ = await scraper.scrapeOnce()
        #expect(logged.withLock { $0.last } == "metrics: node hung answers again")
    }

    @Test func aFailingNodeListIsLoggedAndStoresNothing() async {
        let logged = Mutex<[String]>([])
        let store = ResourceMetricsStore(resolution: 15)
        let scraper = MetricsScraper(store: store, resolution: 15, nodes: { throw ScrapeError(description: "store unavailable") },
                                     fetch: { _ in [] }, log: { line in logged.withLock { $0.append(line) } })
        let batch = await scraper.scrapeOnce()
        #expect(batch.nodes.isEmpty)
        #expect(logged.withLock { $0 } == ["metrics: listing nodes: store unavailable"])
    }
}
