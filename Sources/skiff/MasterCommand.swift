// `skiff master`: the API server over the embedded SQLite store, with the scheduler and the
// controllers in-process (each can be turned off, and run on its own).
import API
import APIServer
import ArgumentParser
import Dispatch
import Client
import Controllers
import Proxy
import Foundation
import Scheduler
import Store

struct MasterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "master",
        abstract: "Run the master: the Kubernetes API server over an embedded SQLite store.")

    @Option(name: .long, help: "Address to serve the API on (plain HTTP; keep it on loopback).")
    var listen: String = "127.0.0.1:6443"

    @Option(name: .customLong("data-dir"), help: "Directory for the store (state.db).")
    var dataDir: String = "/var/lib/skiff/master"

    @Option(name: .customLong("compaction-interval"),
            help: "How often to drop store history older than the previous interval (e.g. 5m, 30s).")
    var compactionInterval: String = "5m"

    @Flag(inversion: .prefixedNo, help: "Run the scheduler in this process.")
    var scheduler = true

    @Flag(inversion: .prefixedNo, help: "Run the controllers (ReplicaSet, Deployment, Endpoints, node lifecycle, GC) in this process.")
    var controllers = true

    @OptionGroup var controllerOptions: ControllerFlags

    @OptionGroup var election: LeaderElectionFlags

    func run() throws { try serve(onReady: nil) }

    /// Serves until stopped; `onReady` gets the local API URL once the API answers (skiff up
    /// starts the node and the proxy there).
    func serve(onReady: (@Sendable (String) -> Void)?) throws {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
            throw ValidationError("--listen must be HOST:PORT, got \(listen)")
        }
        let host = String(listen[..<colon])
        guard let interval = Self.seconds(compactionInterval), interval > 0 else {
            throw ValidationError("--compaction-interval must be a duration like 30s, 5m or 1h, got \(compactionInterval)")
        }
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        let store = try SQLiteStore(path: dataDir + "/state.db")
        Self.exitOnTerminationSignals()
        let finished = DispatchSemaphore(value: 0)
        let failure = FailureBox()
        Task {
            do {
                let api = KubernetesAPI(store: store)
                let server = try await HTTPServer(host: host, port: port, handler: api)
                try await api.bootstrap(serverAddress: "\(host):\(server.port)")
                // Bounded growth: each tick compacts to the revision seen one tick earlier, so
                // watchers always have at least one interval of history to resume from.
                Task.detached {
                    var previous: Int64 = 0
                    while true {
                        try? await Task.sleep(for: .seconds(interval))
                        if previous > 0 { try? await store.compact(upTo: previous) }
                        previous = await store.currentRevision()
                    }
                }
                writeAll(2, "skiff master: serving the Kubernetes API on http://\(host):\(server.port) (data in \(dataDir))\n")
                let local = "http://\(host == "0.0.0.0" ? "127.0.0.1" : host):\(server.port)"
                let log: @Sendable (String) -> Void = { writeAll(2, "skiff master: " + $0 + "\n") }
                if controllers {
                    let options = try controllerOptions.options(server: local)
                    let elector = election.elector(server: local, lease: "kube-controller-manager")
                    Thread.detachNewThread {
                        elector?.acquire(log: log)
                        ControllerManager(options: options, log: log).start()
                    }
                }
                if scheduler {
                    let elector = election.elector(server: local, lease: "kube-scheduler")
                    Thread.detachNewThread {
                        elector?.acquire(log: log)
                        Scheduler(options: SchedulerOptions(server: local), log: log).run()
                    }
                }
                onReady?(local)
                try await server.run()
            } catch {
                failure.set("\(error)")
            }
            finished.signal()
        }
        finished.wait()
        if let message = failure.get() { throw ValidationError("master stopped: \(message)") }
    }

    static func seconds(_ text: String) -> Double? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            if let v = Double(text.dropLast(suffix.count)) { return v * scale }
        }
        return Double(text)
    }

    /// SIGTERM and SIGINT stop the master (every acknowledged write is already durable). They are
    /// unblocked first: a parent may have spawned us with them blocked in its signal mask.
    static func exitOnTerminationSignals() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        sigprocmask(SIG_UNBLOCK, &set, nil)
        signal(SIGTERM, SIG_DFL)
        signal(SIGINT, SIG_DFL)
    }
}

/// The error that stopped the server task, handed to the blocked main thread.
final class FailureBox: @unchecked Sendable {
    private let lock = NSLock()
    private var message: String?
    func set(_ m: String) { lock.lock(); message = m; lock.unlock() }
    func get() -> String? { lock.lock(); defer { lock.unlock() }; return message }
}

/// `skiff scheduler`: the scheduler on its own, against a master's API.
struct SchedulerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "scheduler", abstract: "Run the scheduler against an API server.")

    @Option(name: .long, help: "The API server's URL.")
    var server: String = "http://127.0.0.1:6443"

    @Option(name: .customLong("scheduler-name"), help: "Schedule pods whose spec.schedulerName is this.")
    var schedulerName: String = "default-scheduler"

    @OptionGroup var election: LeaderElectionFlags

    func run() throws {
        MasterCommand.exitOnTerminationSignals()
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

    @Option(name: .customLong("cluster-cidr"), help: "Pod addresses: each node gets a /24 of this range.")
    var clusterCIDR: String = "10.244.0.0/16"

    func options(server: String) throws -> ControllerOptions {
        guard let grace = MasterCommand.seconds(nodeMonitorGracePeriod), grace > 0 else {
            throw ValidationError("--node-monitor-grace-period must be a duration like 40s, got \(nodeMonitorGracePeriod)")
        }
        guard let eviction = MasterCommand.seconds(podEvictionTimeout), eviction >= 0 else {
            throw ValidationError("--pod-eviction-timeout must be a duration like 5m, got \(podEvictionTimeout)")
        }
        guard let cidr = IPv4CIDR(clusterCIDR), cidr.prefix <= 24 else {
            throw ValidationError("--cluster-cidr must be an IPv4 CIDR of /24 or larger, got \(clusterCIDR)")
        }
        var o = ControllerOptions(server: server)
        o.clusterCIDR = cidr
        o.nodeMonitorGracePeriod = grace
        o.podEvictionTimeout = eviction
        return o
    }
}

/// `skiff controller-manager`: the controllers on their own, against a master's API.
struct ControllerManagerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "controller-manager", abstract: "Run the controllers against an API server.")

    @Option(name: .long, help: "The API server's URL.")
    var server: String = "http://127.0.0.1:6443"

    @OptionGroup var flags: ControllerFlags

    @OptionGroup var election: LeaderElectionFlags

    func run() throws {
        MasterCommand.exitOnTerminationSignals()
        let log: @Sendable (String) -> Void = { writeAll(2, "skiff controller-manager: " + $0 + "\n") }
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
    static let configuration = CommandConfiguration(commandName: "proxy", abstract: "Program iptables so Service IPs reach their endpoints.")

    @Option(name: .long, help: "The API server's URL.")
    var server: String = "http://127.0.0.1:6443"

    @Option(name: .customLong("cluster-cidr"), help: "Pod addresses; traffic to services from outside them is masqueraded.")
    var clusterCIDR: String = "10.244.0.0/16"

    @Flag(name: .long, help: "Remove every rule and chain the proxy made, then exit.")
    var cleanup = false

    func run() throws {
        MasterCommand.exitOnTerminationSignals()
        if cleanup { IPTables.cleanup(); return }
        guard IPv4CIDR(clusterCIDR) != nil else { throw ValidationError("--cluster-cidr must be an IPv4 CIDR, got \(clusterCIDR)") }
        var options = ProxyOptions(server: server)
        options.clusterCIDR = clusterCIDR
        Proxier(options: options) { writeAll(2, "skiff proxy: " + $0 + "\n") }.run()
    }
}
