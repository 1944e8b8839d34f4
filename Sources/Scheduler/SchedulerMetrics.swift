// kube-scheduler's series for one profile: attempts by result (scheduled, unschedulable, error)
// and their latency (the algorithm plus the binding), the pods each queue holds (read at scrape
// time), and how many attempts a pod took to be scheduled.
import CoreMetrics
import Dispatch
import Telemetry

final class SchedulerMetrics: Sendable {
    enum Result: String, CaseIterable { case scheduled, unschedulable, error }

    private let attempts: [Result: Counter]
    private let durations: [Result: CoreMetrics.Timer]
    private let podAttempts: Recorder

    init(profile: String, registry: MetricsRegistry, queue: SchedulingQueue) {
        let factory = registry.factory
        var attempts: [Result: Counter] = [:], durations: [Result: CoreMetrics.Timer] = [:]
        for result in Result.allCases {
            let dimensions = [("result", result.rawValue), ("profile", profile)]
            attempts[result] = Counter(label: "scheduler_schedule_attempts_total", dimensions: dimensions, factory: factory)
            durations[result] = CoreMetrics.Timer(label: "scheduler_scheduling_attempt_duration_seconds", dimensions: dimensions, factory: factory)
        }
        self.attempts = attempts
        self.durations = durations
        podAttempts = Recorder(label: "scheduler_pod_scheduling_attempts", dimensions: [], aggregate: true, factory: factory)
        let pending = ["active", "backoff", "unschedulable", "gated"].map {
            ($0, Meter(label: "scheduler_pending_pods", dimensions: [("queue", $0)], factory: factory))
        }
        registry.onScrape { [weak queue] in
            guard let counts = queue?.pendingCounts() else { return }
            for (name, gauge) in pending {
                switch name {
                case "active": gauge.set(counts.active)
                case "backoff": gauge.set(counts.backoff)
                case "unschedulable": gauge.set(counts.unschedulable)
                default: gauge.set(0)   // (no scheduling gates yet)
                }
            }
        }
    }

    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// One attempt that started at `started` (uptime ns) ended with `result`; a scheduled pod took `tries` attempts.
    func attempt(_ result: Result, started: UInt64, tries: Int = 0) {
        attempts[result]?.increment()
        durations[result]?.recordNanoseconds(Int64(Self.now() - started))
        if result == .scheduled { podAttempts.record(tries) }
    }
}
