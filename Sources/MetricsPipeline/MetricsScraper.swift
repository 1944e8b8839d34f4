// The metrics pipeline's loop, like metrics-server's scraper: every resolution it asks every Ready
// node's server for /stats/summary, all nodes at once and each with a timeout (a dead node costs
// its own reading, never the others'), decodes each answer once into readings and stores the
// batch. What answered last cycle and fails now is logged once, and again when it recovers.
import API
import Foundation
import Synchronization

/// A node server to scrape.
public struct StatsTarget: Sendable, Equatable {
    public var node: String
    public var host: String
    public var port: Int
    public init(node: String, host: String, port: Int) {
        self.node = node
        self.host = host
        self.port = port
    }
}

public struct ScrapeError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

public final class MetricsScraper: Sendable {
    public typealias Fetch = @Sendable (StatsTarget) async throws -> [UInt8]

    let store: ResourceMetricsStore
    let resolution: TimeInterval
    /// Per node: 90% of the resolution, so a cycle ends before the next begins (metrics-server's choice).
    let timeout: TimeInterval
    let nodes: @Sendable () async throws -> [Node]
    let fetch: Fetch
    let log: @Sendable (String) -> Void
    /// Nodes whose last scrape failed, with the error logged for them.
    private let failing = Mutex<[String: String]>([:])

    public init(store: ResourceMetricsStore, resolution: TimeInterval, nodes: @escaping @Sendable () async throws -> [Node],
                fetch: @escaping Fetch, log: @escaping @Sendable (String) -> Void) {
        self.store = store
        self.resolution = resolution
        self.timeout = resolution * 0.9
        self.nodes = nodes
        self.fetch = fetch
        self.log = log
    }

    /// Scrapes every resolution until cancelled.
    public func run() async {
        let clock = ContinuousClock()
        while !Task.isCancelled {
            let started = clock.now
            await scrapeOnce()
            try? await Task.sleep(until: started + .milliseconds(Int64(resolution * 1000)), clock: clock)
        }
    }

    /// One cycle: scrape, store, and return the batch stored.
    @discardableResult
    public func scrapeOnce() async -> MetricsBatch {
        let targets: [StatsTarget]
        do { targets = try await nodes().compactMap(Self.target) } catch {
            log("metrics: listing nodes: \(error)")
            return MetricsBatch()
        }
        let results = await withTaskGroup(of: (StatsTarget, Result<NodeReadings, Error>).self) { group in
            for t in targets { group.addTask { (t, await self.scrape(t)) } }
            var all: [(StatsTarget, Result<NodeReadings, Error>)] = []
            for await r in group { all.append(r) }
            return all
        }
        let scraped = Set(targets.map(\.node))
        failing.withLock { f in f = f.filter { scraped.contains($0.key) } }   // (nodes gone or no longer Ready)
        var batch = MetricsBatch()
        for (target, result) in results {
            switch result {
            case .success(let readings):
                noteSuccess(target)
                if let point = readings.node { batch.nodes[target.node] = point }
                for (key, containers) in readings.pods { batch.pods[key] = containers }
            case .failure(let error):
                noteFailure(target, error)
            }
        }
        store.store(batch)
        return batch
    }

    /// A node worth scraping: Ready, with a node server address.
    static func target(_ node: Node) -> StatsTarget? {
        guard node.isReady, let endpoint = node.serverEndpoint else { return nil }
        return StatsTarget(node: node.name, host: endpoint.host, port: endpoint.port)
    }

    func scrape(_ target: StatsTarget) async -> Result<NodeReadings, Error> {
        do {
            let fetch = self.fetch
            let body = try await Self.withTimeout(timeout) { try await fetch(target) }
            return .success(try Self.decode(body))
        } catch {
            return .failure(error)
        }
    }

    /// `body`'s result, or a ScrapeError once `seconds` pass (the body is cancelled, and awaited).
    static func withTimeout<T: Sendable>(_ seconds: TimeInterval, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
                throw ScrapeError(description: "no answer within \(GoDuration.format(nanoseconds: Int64(seconds * 1e9)))")
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw CancellationError() }
            return first
        }
    }

    // MARK: decoding

    struct NodeReadings {
        var node: MetricsPoint?
        var pods: [(MetricsBatch.PodKey, [ContainerPoint])] = []
    }

    /// The readings in a /stats/summary body (parsed once; entries without CPU time or memory are skipped).
    static func decode(_ body: [UInt8]) throws -> NodeReadings {
        let json: JSONValue
        do { json = try JSONValue.parse(body) } catch { throw ScrapeError(description: "the stats summary is not valid JSON: \(error)") }
        guard case .object = json else { throw ScrapeError(description: "the stats summary is not a JSON object") }
        let summary = StatsSummary(json: json)
        var readings = NodeReadings()
        let node = summary.node
        readings.node = point(start: node.startTime, cpu: node.cpu, memory: node.memory)
        let pods = summary.pods
        readings.pods.reserveCapacity(pods.count)
        for pod in pods {
            guard let namespace = pod.podRef.namespace, let name = pod.podRef.name else { continue }
            let containers = pod.containers.compactMap { c -> ContainerPoint? in
                guard let cname = c.name, let p = point(start: c.startTime, cpu: c.cpu, memory: c.memory) else { return nil }
                return ContainerPoint(name: cname, point: p)
            }
            if !containers.isEmpty { readings.pods.append((MetricsBatch.PodKey(namespace: namespace, name: name), containers)) }
        }
        return readings
    }

    /// The CPU reading's time is the point's: the rate is CPU time over the time between readings.
    static func point(start: Date?, cpu: CPUStats, memory: MemoryStats) -> MetricsPoint? {
        guard let time = cpu.time, let used = cpu.usageCoreNanoSeconds, used >= 0,
              let workingSet = memory.workingSetBytes, workingSet >= 0 else { return nil }
        return MetricsPoint(startTime: start ?? .distantPast, timestamp: time, cumulativeCPUNanos: UInt64(used),
                            workingSetBytes: UInt64(workingSet))
    }

    // MARK: logging

    private func noteFailure(_ target: StatsTarget, _ error: Error) {
        let message = "\(error)"
        let changed = failing.withLock { f in
            defer { f[target.node] = message }
            return f[target.node] != message
        }
        if changed { log("metrics: scraping node \(target.node) at \(target.host):\(target.port) failed: \(message)") }
    }

    private func noteSuccess(_ target: StatsTarget) {
        if failing.withLock({ $0.removeValue(forKey: target.node) }) != nil {
            log("metrics: node \(target.node) answers again")
        }
    }
}
