// client-go's work queue metrics for one queue (label name=<controller>): depth, adds, how long
// keys wait and how long their syncs take, retries, and the work still in progress. Called
// under the queue's lock.
import CoreMetrics
import Dispatch
import Telemetry

final class WorkQueueMetrics {
    let depth: Meter
    let adds: Counter
    let queueDuration: CoreMetrics.Timer
    let workDuration: CoreMetrics.Timer
    let retries: Counter
    let unfinishedWork: Meter
    let longestRunning: Meter
    /// When each waiting key was first added, and when each key being worked on was handed out (uptime ns).
    private var addedAt: [String: UInt64] = [:]
    private var startedAt: [String: UInt64] = [:]

    init(name: String, registry: MetricsRegistry) {
        let dimensions = [("name", name)]
        let factory = registry.factory
        depth = Meter(label: "workqueue_depth", dimensions: dimensions, factory: factory)
        adds = Counter(label: "workqueue_adds_total", dimensions: dimensions, factory: factory)
        queueDuration = CoreMetrics.Timer(label: "workqueue_queue_duration_seconds", dimensions: dimensions, factory: factory)
        workDuration = CoreMetrics.Timer(label: "workqueue_work_duration_seconds", dimensions: dimensions, factory: factory)
        retries = Counter(label: "workqueue_retries_total", dimensions: dimensions, factory: factory)
        unfinishedWork = Meter(label: "workqueue_unfinished_work_seconds", dimensions: dimensions, factory: factory)
        longestRunning = Meter(label: "workqueue_longest_running_processor_seconds", dimensions: dimensions, factory: factory)
    }

    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// A key newly waiting (not one already waiting).
    func added(_ key: String) {
        adds.increment()
        depth.increment()
        if addedAt[key] == nil { addedAt[key] = Self.now() }
    }

    func started(_ key: String) {
        depth.decrement()
        let now = Self.now()
        if let at = addedAt.removeValue(forKey: key) { queueDuration.recordNanoseconds(Int64(now - at)) }
        startedAt[key] = now
    }

    func finished(_ key: String) {
        if let at = startedAt.removeValue(forKey: key) { workDuration.recordNanoseconds(Int64(Self.now() - at)) }
    }

    /// The seconds of work in progress so far, and the oldest sync's age (read at scrape time).
    func updateUnfinishedWork() {
        let now = Self.now()
        var total = 0.0, longest = 0.0
        for at in startedAt.values {
            let seconds = Double(now - at) / 1e9
            total += seconds
            longest = max(longest, seconds)
        }
        unfinishedWork.set(total)
        longestRunning.set(longest)
    }
}
