// The metrics pipeline's memory, as metrics-server keeps it: the last two readings of every node
// and container, and the usage between them — CPU as the rate of cumulative CPU time over the
// window between the readings (nanocores), memory as the last working set. The metrics.k8s.io
// handlers read it through `ResourceMetricsSource`.
import API
import Foundation
import Synchronization

/// What the metrics.k8s.io API serves from: the last window's usage per node and per pod.
public protocol ResourceMetricsSource: Sendable {
    /// Nil until the node has two readings.
    func nodeUsage(_ node: String) -> NodeUsage?
    /// Nil until every container of the pod has two readings.
    func podUsage(namespace: String, name: String) -> PodUsage?
}

/// One reading of a node or container: cumulative CPU time since `startTime` and the working set, at `timestamp`.
public struct MetricsPoint: Sendable, Equatable {
    public var startTime: Date
    public var timestamp: Date
    public var cumulativeCPUNanos: UInt64
    public var workingSetBytes: UInt64

    public init(startTime: Date, timestamp: Date, cumulativeCPUNanos: UInt64, workingSetBytes: UInt64) {
        self.startTime = startTime
        self.timestamp = timestamp
        self.cumulativeCPUNanos = cumulativeCPUNanos
        self.workingSetBytes = workingSetBytes
    }
}

public struct Usage: Sendable, Equatable {
    public var nanoCores: UInt64
    public var workingSetBytes: UInt64
}

public struct NodeUsage: Sendable, Equatable {
    /// The end of the window, and its length.
    public var timestamp: Date
    public var windowNanos: Int64
    public var usage: Usage
}

public struct PodUsage: Sendable, Equatable {
    public struct Container: Sendable, Equatable {
        public var name: String
        public var usage: Usage
    }
    /// The earliest of the containers' windows (metrics-server's choice), and its length.
    public var timestamp: Date
    public var windowNanos: Int64
    public var containers: [Container]
}

public struct ContainerPoint: Sendable, Equatable {
    public var name: String
    public var point: MetricsPoint
}

/// One scrape cycle's readings from every node that answered.
public struct MetricsBatch: Sendable {
    public struct PodKey: Hashable, Sendable {
        public var namespace: String
        public var name: String
    }
    public var nodes: [String: MetricsPoint] = [:]
    public var pods: [PodKey: [ContainerPoint]] = [:]
    public init() {}
}

public final class ResourceMetricsStore: ResourceMetricsSource {
    /// A container younger than the resolution but at least this old counts from zero at its start
    /// (metrics-server's fresh-container rule: it has usage after one scrape, not two).
    static let freshContainerMinimum: TimeInterval = 10

    struct State {
        var lastNodes: [String: MetricsPoint] = [:]
        var prevNodes: [String: MetricsPoint] = [:]
        var lastPods: [MetricsBatch.PodKey: [ContainerPoint]] = [:]
        var prevPods: [MetricsBatch.PodKey: [ContainerPoint]] = [:]
    }

    let resolution: TimeInterval
    private let state = Mutex(State())

    public init(resolution: TimeInterval) { self.resolution = resolution }

    /// Replaces the last readings with `batch`; a reading moves to "previous" only when the new
    /// one is newer and (for a container) no restart came between them.
    public func store(_ batch: MetricsBatch) {
        state.withLock { s in
            var lastNodes: [String: MetricsPoint] = [:], prevNodes: [String: MetricsPoint] = [:]
            lastNodes.reserveCapacity(batch.nodes.count)
            for (name, new) in batch.nodes {
                lastNodes[name] = new
                if let old = s.lastNodes[name], new.timestamp > old.timestamp {
                    prevNodes[name] = old
                } else if let older = s.prevNodes[name], older.timestamp < new.timestamp {
                    prevNodes[name] = older
                }
            }
            var lastPods: [MetricsBatch.PodKey: [ContainerPoint]] = [:], prevPods: [MetricsBatch.PodKey: [ContainerPoint]] = [:]
            lastPods.reserveCapacity(batch.pods.count)
            prevPods.reserveCapacity(batch.pods.count)
            for (key, containers) in batch.pods {
                let oldLast = s.lastPods[key], oldPrev = s.prevPods[key]
                var last: [ContainerPoint] = [], prev: [ContainerPoint] = []
                last.reserveCapacity(containers.count)
                for c in containers where !last.contains(where: { $0.name == c.name }) {
                    last.append(c)
                    if let p = previous(of: c, oldLast: oldLast, oldPrev: oldPrev) { prev.append(p) }
                }
                lastPods[key] = last
                if !prev.isEmpty { prevPods[key] = prev }
            }
            s = State(lastNodes: lastNodes, prevNodes: prevNodes, lastPods: lastPods, prevPods: prevPods)
        }
    }

    /// The reading to measure `new` against, if there is one.
    private func previous(of new: ContainerPoint, oldLast: [ContainerPoint]?, oldPrev: [ContainerPoint]?) -> ContainerPoint? {
        let age = new.point.timestamp.timeIntervalSince(new.point.startTime)
        if age > 0, age < resolution, age >= Self.freshContainerMinimum {
            var zero = new
            zero.point.timestamp = new.point.startTime
            zero.point.cumulativeCPUNanos = 0
            return zero
        }
        // A start after the last reading is a restart: the counter began again, nothing to compare.
        guard let old = oldLast?.first(where: { $0.name == new.name }), new.point.startTime < old.point.timestamp else { return nil }
        if new.point.timestamp > old.point.timestamp { return old }
        if let older = oldPrev?.first(where: { $0.name == new.name }), older.point.timestamp < new.point.timestamp { return older }
        return nil
    }

    public func nodeUsage(_ node: String) -> NodeUsage? {
        state.withLock { s in
            guard let last = s.lastNodes[node], let prev = s.prevNodes[node], let u = Self.usage(last, prev) else { return nil }
            return NodeUsage(timestamp: last.timestamp, windowNanos: Self.windowNanos(last, prev), usage: u)
        }
    }

    public func podUsage(namespace: String, name: String) -> PodUsage? {
        let key = MetricsBatch.PodKey(namespace: namespace, name: name)
        return state.withLock { s in
            guard let last = s.lastPods[key], let prev = s.prevPods[key] else { return nil }
            var containers: [PodUsage.Container] = []
            var earliest: (Date, Int64)?
            for c in last {
                // Every container needs its window, or the pod's sum would be short.
                guard let p = prev.first(where: { $0.name == c.name }) else { return nil }
                guard let u = Self.usage(c.point, p.point) else { continue }
                containers.append(PodUsage.Container(name: c.name, usage: u))
                if earliest.map({ $0.0 > c.point.timestamp }) ?? true { earliest = (c.point.timestamp, Self.windowNanos(c.point, p.point)) }
            }
            guard let earliest else { return nil }
            return PodUsage(timestamp: earliest.0, windowNanos: earliest.1, containers: containers)
        }
    }

    /// Nil when the pair cannot be compared: a counter that went back, or no time between them.
    static func usage(_ last: MetricsPoint, _ prev: MetricsPoint) -> Usage? {
        guard last.startTime >= prev.startTime, last.cumulativeCPUNanos >= prev.cumulativeCPUNanos,
              last.timestamp > prev.timestamp else { return nil }
        let window = last.timestamp.timeIntervalSince(prev.timestamp)
        let rate = Double(last.cumulativeCPUNanos - prev.cumulativeCPUNanos) / window
        return Usage(nanoCores: rate < 1.8e19 ? UInt64(rate) : UInt64.max, workingSetBytes: last.workingSetBytes)
    }

    static func windowNanos(_ last: MetricsPoint, _ prev: MetricsPoint) -> Int64 {
        Int64((last.timestamp.timeIntervalSince(prev.timestamp) * 1e9).rounded())
    }
}
