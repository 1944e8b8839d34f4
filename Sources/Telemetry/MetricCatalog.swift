// Every series Skiff exposes, with the help text and histogram buckets of the upstream component
// that defines it (kube-apiserver, client-go's work queues, kube-scheduler, the kubelet,
// cAdvisor), so dashboards and alerts written for Kubernetes read Skiff's the same way. The
// names are the swift-metrics labels components record under.

public enum MetricCatalog {
    public struct Entry: Sendable {
        public let help: String
        public let buckets: [Double]
        init(_ help: String, buckets: [Double] = []) { self.help = help; self.buckets = buckets }
    }

    /// kube-apiserver's request and etcd latency buckets.
    static let requestBuckets: [Double] = [0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60]
    /// client-go's work queue buckets: ExponentialBuckets(1e-6, 10, 10).
    static let queueBuckets: [Double] = (0..<10).map { pow10(-6 + $0) }
    /// Prometheus' DefBuckets.
    static let defaultBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
    static let podStartBuckets: [Double] = [0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200,
                                            1800, 2700, 3600]

    static func pow10(_ exponent: Int) -> Double {
        var v = 1.0
        for _ in 0..<abs(exponent) { v *= 10 }
        return exponent < 0 ? 1 / v : v
    }

    public static let entries: [String: Entry] = apiserver.merging(workqueue) { a, _ in a }.merging(scheduler) { a, _ in a }
        .merging(kubelet) { a, _ in a }.merging(cadvisor) { a, _ in a }

    public static func help(_ name: String) -> String { entries[name]?.help ?? "" }
    public static func buckets(_ name: String) -> [Double] { entries[name]?.buckets ?? defaultBuckets }

    static let process: [String: Entry] = [
        "process_resident_memory_bytes": Entry("Resident memory size in bytes."),
        "process_start_time_seconds": Entry("Start time of the process since unix epoch in seconds."),
    ]

    static let apiserver: [String: Entry] = process.merging([
        "apiserver_request_total": Entry("Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code."),
        "apiserver_request_duration_seconds": Entry("Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component.",
                                                    buckets: requestBuckets),
        "apiserver_longrunning_requests": Entry("Gauge of all active long-running apiserver requests broken out by verb, group, version, resource, scope and component. Not all requests are tracked this way."),
        "apiserver_watch_events_total": Entry("Number of events sent in watch clients"),
        "etcd_request_duration_seconds": Entry("Etcd request latency in seconds for each operation and object type.", buckets: requestBuckets),
        "etcd_requests_total": Entry("Etcd request counts for each operation and object type."),
        "etcd_request_errors_total": Entry("Etcd failed request counts for each operation and object type."),
        "skiff_store_revision": Entry("The store's current revision."),
    ]) { a, _ in a }

    static let workqueue: [String: Entry] = [
        "workqueue_depth": Entry("Current depth of workqueue"),
        "workqueue_adds_total": Entry("Total number of adds handled by workqueue"),
        "workqueue_queue_duration_seconds": Entry("How long in seconds an item stays in workqueue before being requested.", buckets: queueBuckets),
        "workqueue_work_duration_seconds": Entry("How long in seconds processing an item from workqueue takes.", buckets: queueBuckets),
        "workqueue_unfinished_work_seconds": Entry("How many seconds of work has done that is in progress and hasn't been observed by work_duration. Large values indicate stuck threads. One can deduce the number of stuck threads by observing the rate at which this increases."),
        "workqueue_longest_running_processor_seconds": Entry("How many seconds has the longest running processor for workqueue been running."),
        "workqueue_retries_total": Entry("Total number of retries handled by workqueue"),
    ]

    static let scheduler: [String: Entry] = [
        "scheduler_schedule_attempts_total": Entry("Number of attempts to schedule pods, by the result. 'unschedulable' means a pod could not be scheduled, while 'error' means an internal scheduler problem."),
        "scheduler_scheduling_attempt_duration_seconds": Entry("Scheduling attempt latency in seconds (scheduling algorithm + binding)",
                                                               buckets: (0..<15).map { 0.001 * Double(1 << $0) }),
        "scheduler_pending_pods": Entry("Number of pending pods, by the queue type. 'active' means number of pods in activeQ; 'backoff' means number of pods in backoffQ; 'unschedulable' means number of pods in unschedulablePods that the scheduler attempted to schedule and failed; 'gated' is the number of unschedulable pods that the scheduler never attempted to schedule because they are gated."),
        "scheduler_pod_scheduling_attempts": Entry("Number of attempts to successfully schedule a pod.", buckets: [1, 2, 4, 8, 16]),
    ]

    static let kubelet: [String: Entry] = [
        "kubelet_node_name": Entry("The node's name. The count is always 1."),
        "kubelet_running_pods": Entry("Number of pods that have a running pod sandbox"),
        "kubelet_running_containers": Entry("Number of containers currently running"),
        "kubelet_pod_start_duration_seconds": Entry("Duration in seconds from kubelet seeing a pod for the first time to the pod starting to run",
                                                    buckets: podStartBuckets),
        "kubelet_pod_worker_duration_seconds": Entry("Duration in seconds to sync a single pod. Broken down by operation type: create, update, or sync",
                                                     buckets: defaultBuckets),
        "kubelet_started_pods_total": Entry("Cumulative number of pods started"),
        "kubelet_started_containers_total": Entry("Cumulative number of containers started"),
    ]

    /// cAdvisor's container series (the kubelet's /metrics/cadvisor).
    static let cadvisor: [String: Entry] = [
        "container_cpu_usage_seconds_total": Entry("Cumulative cpu time consumed in seconds."),
        "container_cpu_user_seconds_total": Entry("Cumulative user cpu time consumed in seconds."),
        "container_cpu_system_seconds_total": Entry("Cumulative system cpu time consumed in seconds."),
        "container_cpu_cfs_throttled_periods_total": Entry("Number of throttled period intervals."),
        "container_cpu_cfs_throttled_seconds_total": Entry("Total time duration the container has been throttled."),
        "container_memory_usage_bytes": Entry("Current memory usage in bytes, including all memory regardless of when it was accessed"),
        "container_memory_working_set_bytes": Entry("Current working set in bytes."),
        "container_memory_rss": Entry("Size of RSS in bytes."),
        "container_memory_cache": Entry("Number of bytes of page cache memory."),
        "container_oom_events_total": Entry("Count of out of memory events observed for the container"),
        "container_spec_memory_limit_bytes": Entry("Memory limit for the container."),
        "container_spec_cpu_quota": Entry("CPU quota of the container."),
        "container_spec_cpu_period": Entry("CPU period of the container."),
        "container_spec_cpu_shares": Entry("CPU share of the container."),
        "container_start_time_seconds": Entry("Start time of the container since unix epoch in seconds."),
        "container_last_seen": Entry("Last time a container was seen by the exporter"),
        "container_network_receive_bytes_total": Entry("Cumulative count of bytes received"),
        "container_network_transmit_bytes_total": Entry("Cumulative count of bytes transmitted"),
        "container_network_receive_errors_total": Entry("Cumulative count of errors encountered while receiving"),
        "container_network_transmit_errors_total": Entry("Cumulative count of errors encountered while transmitting"),
        "machine_cpu_cores": Entry("Number of logical CPU cores."),
        "machine_memory_bytes": Entry("Amount of memory installed on the machine."),
    ]
}
