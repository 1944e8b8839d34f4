// The agent's own series on its /metrics, as the kubelet names them: its node, the pods and
// containers running (counted at scrape time from the runtime), how long each pod sync took
// (by operation: create, update, sync, kill), how long pods took from first sight to Running,
// and the pods and containers it started. One registry per agent.
import CoreMetrics
import Dispatch
import Runtime
import Telemetry

final class KubeletMetrics: Sendable {
    let registry: MetricsRegistry

    /// What a pod's sync did, as the kubelet's pod workers say it (SyncPodCreate/Update/Sync/Kill).
    enum Operation: String, CaseIterable, Sendable { case create, update, sync, kill }

    private let workerDurations: [Operation: CoreMetrics.Timer]
    private let podStartDuration: CoreMetrics.Timer
    private let startedPods: Counter
    private let startedContainers: Counter
    private let startedInitContainers: Counter

    init(node: String, runtime: ContainerRuntime, registry: MetricsRegistry = MetricsRegistry()) {
        self.registry = registry
        let factory = registry.factory
        var durations: [Operation: CoreMetrics.Timer] = [:]
        for op in Operation.allCases {
            durations[op] = CoreMetrics.Timer(label: "kubelet_pod_worker_duration_seconds", dimensions: [("operation_type", op.rawValue)], factory: factory)
        }
        workerDurations = durations
        podStartDuration = CoreMetrics.Timer(label: "kubelet_pod_start_duration_seconds", dimensions: [], factory: factory)
        startedPods = Counter(label: "kubelet_started_pods_total", dimensions: [], factory: factory)
        startedContainers = Counter(label: "kubelet_started_containers_total", dimensions: [("container_type", "container")], factory: factory)
        startedInitContainers = Counter(label: "kubelet_started_containers_total", dimensions: [("container_type", "init_container")], factory: factory)
        Meter(label: "kubelet_node_name", dimensions: [("node", node)], factory: factory).set(1)
        let runningPods = Meter(label: "kubelet_running_pods", dimensions: [], factory: factory)
        let runningContainers = Meter(label: "kubelet_running_containers", dimensions: [("container_state", "running")], factory: factory)
        ProcessMetrics.register(in: registry)
        registry.onScrape {
            let counts = Self.running(runtime.list())
            runningPods.set(counts.pods)
            runningContainers.set(counts.containers)
        }
    }

    /// Running sandboxes (pods) and running containers other than sandboxes.
    static func running(_ list: [(record: ContainerRecord, status: ContainerRunState)]) -> (pods: Int, containers: Int) {
        var pods = 0, containers = 0
        for (record, status) in list {
            guard case .running = status, let name = ContainerName(parsing: record.name) else { continue }
            if name.container == PodSandbox.containerName { pods += 1 } else { containers += 1 }
        }
        return (pods, containers)
    }

    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// A pod sync that began at `started` (uptime ns) has ended.
    func podSynced(_ operation: Operation, started: UInt64) {
        workerDurations[operation]?.recordNanoseconds(Int64(Self.now() - started))
    }

    /// A pod first seen `seconds` ago is now reported Running.
    func podRunning(afterSeconds seconds: Double) { podStartDuration.recordSeconds(max(0, seconds)) }

    func sandboxStarted() { startedPods.increment() }

    func containerStarted(initContainer: Bool) { (initContainer ? startedInitContainers : startedContainers).increment() }
}
