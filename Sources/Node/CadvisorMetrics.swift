// /metrics/cadvisor: cAdvisor's series as the kubelet serves them, read from cgroups and /proc at
// scrape time. Each running container has labels container, id (its cgroup), image, name (the
// runtime's container name), namespace and pod; each pod's cgroup the same with container,
// image and name empty (what `sum by (pod)` queries and `container!=""` filters expect), its
// network interfaces an `interface` label too; the node's root cgroup is id="/".
import API
import Cgroups
import Foundation
import Runtime
import Telemetry

extension NodeStats {
    func cadvisorMetrics() -> [UInt8] {
        let snapshot = MetricsSnapshot()
        let manager = try? makeCgroupManager()
        let sandbox = PodSandbox(rootDir: agent.options.rootDir, cgroupRoot: agent.options.cgroupRoot)
        let now = Date().timeIntervalSince1970
        for (podJSON, containers, sandboxPID) in podContainers() {
            let pod = Pod(json: podJSON)
            let podName = pod.metadata.name ?? "", namespace = pod.metadata.namespace ?? ""
            for (name, record) in containers {
                guard let cgroup = manager?.open(record.cgroupPath), let stats = try? cgroup.stats() else { continue }
                let labels = [("container", name.container), ("id", "/" + record.cgroupPath), ("image", record.image), ("name", record.name),
                              ("namespace", namespace), ("pod", podName)]
                Self.usage(stats, labels, into: snapshot)
                Self.limits(cgroup.spec(), labels, into: snapshot)
                snapshot.counter("container_cpu_user_seconds_total", labels, Double(stats.cpuUserNanos) / 1e9)
                snapshot.counter("container_cpu_system_seconds_total", labels, Double(stats.cpuSystemNanos) / 1e9)
                snapshot.counter("container_cpu_cfs_throttled_periods_total", labels, Double(stats.throttledPeriods))
                snapshot.counter("container_cpu_cfs_throttled_seconds_total", labels, Double(stats.throttledNanos) / 1e9)
                snapshot.gauge("container_memory_rss", labels, Double(stats.memoryRSSBytes))
                snapshot.gauge("container_memory_cache", labels, Double(stats.memoryCacheBytes))
                snapshot.counter("container_oom_events_total", labels, Double(stats.oomKills))
                if let started = Timestamps.parse(record.createdAt) {
                    snapshot.gauge("container_start_time_seconds", labels, started.timeIntervalSince1970)
                }
                snapshot.gauge("container_last_seen", labels, now)
            }
            let uid = pod.metadata.uid ?? ""
            let podCgroup = sandbox.cgroupPath(uid: uid, qosClass: PodRules.qosClass(pod.spec.json))
            let podLabels = [("container", ""), ("id", "/" + podCgroup), ("image", ""), ("name", ""), ("namespace", namespace), ("pod", podName)]
            if let cgroup = manager?.open(podCgroup), let stats = try? cgroup.stats() {
                Self.usage(stats, podLabels, into: snapshot)
                Self.limits(cgroup.spec(), podLabels, into: snapshot)
            }
            if let sandboxPID {
                for i in Self.interfaces(pid: sandboxPID) where i.name != "lo" {
                    let labels = podLabels + [("interface", i.name)]
                    snapshot.counter("container_network_receive_bytes_total", labels, Double(i.rx))
                    snapshot.counter("container_network_transmit_bytes_total", labels, Double(i.tx))
                    snapshot.counter("container_network_receive_errors_total", labels, Double(i.rxErrors))
                    snapshot.counter("container_network_transmit_errors_total", labels, Double(i.txErrors))
                }
            }
        }
        let mem = Self.meminfo()
        let root = [("container", ""), ("id", "/"), ("image", ""), ("name", ""), ("namespace", ""), ("pod", "")]
        snapshot.counter("container_cpu_usage_seconds_total", root, Double(Self.hostCPUNanos()) / 1e9)
        snapshot.gauge("container_memory_usage_bytes", root, Double(mem.total - mem.free))
        snapshot.gauge("container_memory_working_set_bytes", root, Double(mem.total - mem.available))
        snapshot.gauge("machine_cpu_cores", [], Double(ProcessInfo.processInfo.activeProcessorCount))
        snapshot.gauge("machine_memory_bytes", [], Double(mem.total))
        return snapshot.render()
    }

    /// CPU time and memory use of one cgroup.
    static func usage(_ stats: CgroupStats, _ labels: [(String, String)], into snapshot: MetricsSnapshot) {
        snapshot.counter("container_cpu_usage_seconds_total", labels, Double(stats.cpuUsageNanos) / 1e9)
        snapshot.gauge("container_memory_usage_bytes", labels, Double(stats.memoryUsageBytes))
        snapshot.gauge("container_memory_working_set_bytes", labels, Double(stats.memoryWorkingSetBytes))
    }

    /// The cgroup's limits as cAdvisor reports them: memory 0 when unlimited, quota and period only when set.
    static func limits(_ spec: CgroupSpec, _ labels: [(String, String)], into snapshot: MetricsSnapshot) {
        snapshot.gauge("container_spec_memory_limit_bytes", labels, Double(spec.memoryLimitBytes ?? 0))
        if let quota = spec.cpuQuotaMicros {
            snapshot.gauge("container_spec_cpu_quota", labels, Double(quota))
            if let period = spec.cpuPeriodMicros { snapshot.gauge("container_spec_cpu_period", labels, Double(period)) }
        }
        if let shares = spec.cpuShares { snapshot.gauge("container_spec_cpu_shares", labels, Double(shares)) }
    }
}
