// The cluster components on their own — `skiff scheduler`, `skiff controller-manager`,
// `skiff proxy` — and the flags they share with `skiff master` (controller tunables, leader
// election).
import API
import ArgumentParser
import SkiffCLI
import Client
import Controllers
import Foundation
import Proxy
import Scheduler

/// `skiff scheduler`: the scheduler on its own, against a master's API.
struct SchedulerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: ClusterCommand.scheduler.rawValue, abstract: ClusterCommand.scheduler.abstract)

    @OptionGroup var api: APIAccessFlags

    @Option(name: .customLong("scheduler-name"), help: "Schedule pods whose spec.schedulerName is this.")
    var schedulerName: String = "default-scheduler"

    @OptionGroup var election: LeaderElectionFlags

    func run() throws {
        MasterCommand.exitOnTerminationSignals()
        let server = try api.resolvedServer()
        var options = SchedulerOptions(server: server)
        options.schedulerName = schedulerName
        let log: @Sendable (String) -> Void = { writeAll(2, "skiff scheduler: " + $0 + "\n") }
        election.elector(server: server, lease: schedulerName == "default-scheduler" ? "kube-scheduler" : schedulerName)?.acquire(log: log)
        Scheduler(options: options, log: log).run()
    }
}

/// The controller manager's tunables (shared by `skiff master` and `skiff controller-manager`).
struct ControllerFlags: ParsableArguments {
    @Option(name: .customLong("node-monitor-grace-period"), help: "A node whose lease is older than this is unreachable (e.g. 40s).")
    var nodeMonitorGracePeriod: String = "40s"

    @Option(name: .customLong("pod-eviction-timeout"), help: "Pods on an unreachable node are evicted after this (e.g. 5m).")
    var podEvictionTimeout: String = "5m"

    @Option(name: .customLong("resource-quota-sync-period"), help: "Every quota's usage is recounted this often (e.g. 5m).")
    var resourceQuotaSyncPeriod: String = "5m"

    @Option(name: .customLong("horizontal-pod-autoscaler-sync-period"), help: "How often each HorizontalPodAutoscaler is reconciled (e.g. 15s).")
    var hpaSyncPeriod: String = "15s"

    @Option(name: .customLong("horizontal-pod-autoscaler-downscale-stabilization"),
            help: "An HPA without its own scale-down window scales down to the highest recommendation of this long (e.g. 5m).")
    var hpaDownscaleStabilization: String = "5m"

    @Option(name: .customLong("cluster-cidr"), help: "Pod addresses: each node gets a /24 of this range.")
    var clusterCIDR: String = "10.244.0.0/16"

    @Option(name: .customLong("root-ca-file"), help: "The cluster CA (PEM) published to every namespace as ConfigMap kube-root-ca.crt (skiff master: its own CA when it serves TLS).")
    var rootCAFile: String?

    /// `rootCAPEM`: the CA to publish unless --root-ca-file names another.
    func options(server: String, rootCAPEM: String? = nil) throws -> ControllerOptions {
        guard let grace = MasterCommand.seconds(nodeMonitorGracePeriod), grace > 0 else {
            throw ValidationError("--node-monitor-grace-period must be a duration like 40s, got \(nodeMonitorGracePeriod)")
        }
        guard let eviction = MasterCommand.seconds(podEvictionTimeout), eviction >= 0 else {
            throw ValidationError("--pod-eviction-timeout must be a duration like 5m, got \(podEvictionTimeout)")
        }
        guard let quotaSync = MasterCommand.seconds(resourceQuotaSyncPeriod), quotaSync > 0 else {
            throw ValidationError("--resource-quota-sync-period must be a duration like 5m, got \(resourceQuotaSyncPeriod)")
        }
        guard let cidr = IPv4CIDR(clusterCIDR), cidr.prefix <= 24 else {
            throw ValidationError("--cluster-cidr must be an IPv4 CIDR of /24 or larger, got \(clusterCIDR)")
        }
        guard let hpaSync = MasterCommand.seconds(hpaSyncPeriod), hpaSync > 0 else {
            throw ValidationError("--horizontal-pod-autoscaler-sync-period must be a duration like 15s, got \(hpaSyncPeriod)")
        }
        guard let hpaDown = MasterCommand.seconds(hpaDownscaleStabilization), hpaDown >= 0 else {
            throw ValidationError("--horizontal-pod-autoscaler-downscale-stabilization must be a duration like 5m, got \(hpaDownscaleStabilization)")
        }
        var o = ControllerOptions(server: server)
        o.horizontalPodAutoscalerSyncPeriod = hpaSync
        o.horizontalPodAutoscalerDownscaleStabilization = hpaDown
        o.clusterCIDR = cidr
        o.nodeMonitorGracePeriod = grace
        o.podEvictionTimeout = eviction
        o.resourceQuotaSyncPeriod = quotaSync
        o.rootCAPEM = rootCAPEM
        if let rootCAFile {
            do { o.rootCAPEM = try String(contentsOfFile: rootCAFile, encoding: .utf8) }
            catch { throw ValidationError("--root-ca-file \(rootCAFile): \(error.localizedDescription)") }
        }
        return o
    }
}

/// `skiff controller-manager`: the controllers on their own, against a master's API.
struct ControllerManagerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: ClusterCommand.controllerManager.rawValue, abstract: ClusterCommand.controllerManager.abstract)

    @OptionGroup var api: APIAccessFlags

    @OptionGroup var flags: ControllerFlags

    @OptionGroup var election: LeaderElectionFlags

    func run() throws {
        MasterCommand.exitOnTerminationSignals()
        let log: @Sendable (String) -> Void = { writeAll(2, "skiff controller-manager: " + $0 + "\n") }
        let server = try api.resolvedServer()
        let options = try flags.options(server: server)
        election.elector(server: server, lease: "kube-controller-manager")?.acquire(log: log)
        ControllerManager(options: options, log: log).start()
        while true { sleep(3600) }
    }
}

/// Leader election of the scheduler and the controllers (a Lease in kube-system each), so two
/// masters never both schedule or reconcile.
struct LeaderElectionFlags: ParsableArguments {
    @Flag(inversion: .prefixedNo, help: "Elect a leader through a Lease before scheduling or reconciling.")
    var leaderElect = true

    @Option(name: .customLong("leader-elect-lease-duration"), help: "How long a lease holds without renewal (e.g. 15s).")
    var leaseDuration: String = "15s"

    func elector(server: String, lease: String) -> LeaderElector? {
        guard leaderElect else { return nil }
        let duration = MasterCommand.seconds(leaseDuration) ?? 15
        let identity = ProcessInfo.processInfo.hostName + "_" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        return LeaderElector(server: server, name: lease, identity: identity, leaseDuration: duration,
                             renewDeadline: duration * 2 / 3, retryPeriod: max(0.5, duration / 7.5))
    }
}

/// Which API server a component talks to, and with what credentials: --server, and/or a
/// kubeconfig whose user and cluster CA are then used for it.
struct APIAccessFlags: ParsableArguments {
    @Option(name: .long, help: "The API server's URL (default: the kubeconfig's, else http://127.0.0.1:6443).")
    var server: String?

    @Option(name: .long, help: "A kubeconfig with the server, its CA and this component's credentials.")
    var kubeconfig: String?

    func resolvedServer() throws -> String { try Self.resolve(server: server, kubeconfig: kubeconfig) }

    static func resolve(server: String?, kubeconfig: String?) throws -> String {
        guard let kubeconfig else { return server ?? ClusterTarget.defaultServer }
        do { return try ClusterTarget.resolve(server: server, kubeconfig: kubeconfig, namespace: nil).server }
        catch { throw ValidationError("\(error)") }
    }
}

extension LeaderElector {
    /// Waits for the lease; a lost lease ends the process (another instance has taken over).
    func acquire(log: @escaping @Sendable (String) -> Void) {
        log("waiting to lead \(name) as \(identity)")
        acquire { log("lost the \(self.name) lease: exiting so another instance leads"); exit(1) }
        log("leading \(name)")
    }
}

/// `skiff proxy`: Service IPs and node ports to endpoints, through iptables.
struct ProxyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: ClusterCommand.proxy.rawValue, abstract: ClusterCommand.proxy.abstract)

    @OptionGroup var api: APIAccessFlags

    @Option(name: .customLong("cluster-cidr"), help: "Pod addresses; traffic to services from outside them is masqueraded.")
    var clusterCIDR: String = "10.244.0.0/16"

    @Option(name: .customLong("root-ca-file"), help: "The cluster CA (PEM) published to every namespace as ConfigMap kube-root-ca.crt (skiff master: its own CA when it serves TLS).")
    var rootCAFile: String?

    @Option(name: .customLong("proxy-mode"), help: "iptables (kube-proxy's iptables mode) or nftables (maps; fast syncs for many services).")
    var mode: ProxyMode = .iptables

    @Flag(name: .long, help: "Remove every rule, chain and table the proxy made (both modes), then exit.")
    var cleanup = false

    func run() throws {
        MasterCommand.exitOnTerminationSignals()
        if cleanup { IPTables.cleanup(); NFTables.cleanup(); return }
        guard IPv4CIDR(clusterCIDR) != nil else { throw ValidationError("--cluster-cidr must be an IPv4 CIDR, got \(clusterCIDR)") }
        var options = ProxyOptions(server: try api.resolvedServer())
        options.clusterCIDR = clusterCIDR
        options.mode = mode
        mode.removeOtherModesRules()
        try Proxier(options: options) { writeAll(2, "skiff proxy: " + $0 + "\n") }.run()
    }
}

extension ProxyMode: ExpressibleByArgument {
    /// The other mode's leftovers go when a proxy starts, so switching modes leaves no stale rules.
    func removeOtherModesRules() {
        switch self {
        case .iptables: NFTables.cleanup()
        case .nftables: IPTables.cleanup()
        }
    }
}
