// `skiff master`: the API server over the embedded SQLite store, with the scheduler and the
// controllers in-process (each can be turned off, and run on its own).
import API
import APIServer
import ArgumentParser
import SkiffCLI
import Dispatch
import Client
import Controllers
import Foundation
import Scheduler
import HTTPTransfer
import Store
import Telemetry

struct MasterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: ClusterCommand.master.rawValue, abstract: ClusterCommand.master.abstract)

    @Option(name: .customLong("listen"), help: "Address to serve the API on: plain HTTP on loopback, else HTTPS with authentication (default 127.0.0.1:6443; skiff up: 0.0.0.0:6443).")
    var listenFlag: String?

    /// Where `skiff up` listens unless told: every address, secured, so pods reach the API.
    var defaultListen = "127.0.0.1:6443"
    var listen: String { listenFlag ?? defaultListen }

    @Option(name: .customLong("advertise-address"), help: "The IP pods and nodes reach this master on (the kubernetes and kube-dns Endpoints); default: the listen address, else the host's primary IPv4.")
    var advertiseAddress: String?

    @OptionGroup(title: "Cluster DNS") var dns: ClusterDNSFlags

    @Option(name: .customLong("data-dir"), help: "Directory for the store (state.db).")
    var dataDir: String = "/var/lib/skiff/master"

    @OptionGroup(title: "Store") var storeFlags: StoreFlags

    @OptionGroup(title: "Security") var security: SecurityFlags

    @Option(name: .customLong("compaction-interval"),
            help: "How often to drop store history older than the previous interval (e.g. 5m, 30s).")
    var compactionInterval: String = "5m"

    @Option(name: .customLong("metric-resolution"),
            help: "How often the metrics pipeline scrapes every Ready node's stats for metrics.k8s.io and kubectl top (at least 1s).")
    var metricResolution: String = "15s"

    @Option(name: .customLong("service-cidr"), help: "The range Services' cluster IPs come from (its first address is the kubernetes service's).")
    var serviceCIDR: String = "10.96.0.0/12"

    @Option(name: .customLong("service-node-port-range"), help: "The range node ports come from, FIRST-LAST.")
    var nodePortRange: String = "30000-32767"

    @Option(name: .customLong("audit-log-path"), help: "Record every mutating API request (who, what, when, result) as JSON lines in this file.")
    var auditLogPath: String?

    @Flag(inversion: .prefixedNo, help: "Create the default StorageClass `local-path` (the nodes' built-in provisioner) when it is missing.")
    var defaultStorageClass = true

    @Flag(inversion: .prefixedNo, help: "Run the scheduler in this process.")
    var scheduler = true

    @Flag(inversion: .prefixedNo, help: "Run the controllers (ReplicaSet, Deployment, Endpoints, node lifecycle, GC) in this process.")
    var controllers = true

    @OptionGroup var controllerOptions: ControllerFlags

    @OptionGroup var election: LeaderElectionFlags

    func run() throws { try serve(onReady: nil) }

    /// What `skiff up` needs once the API answers: its local URL and, when secured, the master's security setup.
    typealias Ready = @Sendable (_ server: String, _ security: MasterSecurity?) -> Void

    /// Serves until stopped; `onReady` gets the local API URL once the API answers (skiff up
    /// starts the node and the proxy there).
    func serve(onReady: Ready?) throws {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
            throw ValidationError("--listen must be HOST:PORT, got \(listen)")
        }
        let host = String(listen[..<colon])
        guard let interval = Self.seconds(compactionInterval), interval > 0 else {
            throw ValidationError("--compaction-interval must be a duration like 30s, 5m or 1h, got \(compactionInterval)")
        }
        guard let resolution = Self.seconds(metricResolution), resolution >= 1 else {
            throw ValidationError("--metric-resolution must be a duration of at least 1s like 15s or 1m, got \(metricResolution)")
        }
        guard let cidr = IPv4CIDR(serviceCIDR), cidr.prefix <= 30 else {
            throw ValidationError("--service-cidr must be an IPv4 CIDR of at least 4 addresses (e.g. 10.96.0.0/12), got \(serviceCIDR)")
        }
        let bounds = nodePortRange.split(separator: "-").compactMap { Int64($0) }
        guard bounds.count == 2, bounds[0] >= 1, bounds[0] <= bounds[1], bounds[1] <= 65535 else {
            throw ValidationError("--service-node-port-range must be FIRST-LAST within 1-65535 (e.g. 30000-32767), got \(nodePortRange)")
        }
        let nodePorts = bounds[0]...bounds[1]
        let advertise = advertiseAddress ?? AdvertiseAddress.default(listenHost: host)
        guard IPv4CIDR(advertise + "/32") != nil else { throw ValidationError("--advertise-address must be an IPv4 address, got \(advertise)") }
        var security = self.security
        if !security.extraNames.contains(advertise) { security.extraNames.append(advertise) }
        // The master's /metrics: the API server's series, the store's latency, the controllers' queues, the scheduler's.
        let metrics = MetricsRegistry()
        let store = InstrumentedStore(try storeFlags.open(dataDir: dataDir), metrics: metrics)
        // Off loopback (or with --tls) the API is HTTPS only, with authentication and RBAC.
        let secured = security.secure(host: host) ? try MasterSecurity.prepare(flags: security, dataDir: dataDir, host: host, serviceCIDR: cidr, store: store) : nil
        Self.exitOnTerminationSignals()
        let finished = DispatchSemaphore(value: 0)
        let failure = FailureBox()
        Task {
            do {
                let api = KubernetesAPI(store: store, serviceCIDR: serviceCIDR, nodePorts: nodePorts,
                                        audit: try auditLogPath.map { try AuditLog(path: $0) }, tokens: secured?.tokens,
                                        ca: secured?.ca, nodeTLS: secured?.nodeTLS, serviceAccountTokens: secured?.serviceAccountTokens,
                                        defaultStorageClass: defaultStorageClass, metrics: metrics)
                let server = try await HTTPServer(host: host, port: port, handler: api, tls: secured?.context)
                try await api.bootstrap(serverAddress: "\(advertise):\(server.port)")
                // Bounded growth: each tick compacts to the revision seen one tick earlier, so
                // watchers always have at least one interval of history to resume from.
                Task.detached {
                    var previous: Int64 = 0
                    while true {
                        try? await Task.sleep(for: .seconds(interval))
                        if previous > 0 { try? await store.compact(upTo: previous) }
                        previous = (try? await store.currentRevision()) ?? previous
                    }
                }
                let log: @Sendable (String) -> Void = { writeAll(2, "skiff master: " + $0 + "\n") }
                _ = api.startResourceMetrics(resolution: resolution, log: log)
                let scheme = secured == nil ? "http" : "https"
                let local = "\(scheme)://\(host == "0.0.0.0" ? "127.0.0.1" : host):\(server.port)"
                // (The kubeconfig exists before the first line says where the API is.)
                let kubeconfig = try secured.map { try $0.writeAdminKubeconfig(server: local, to: dataDir + "/admin.kubeconfig") }
                writeAll(2, "skiff master: serving the Kubernetes API on \(scheme)://\(host):\(server.port) (data in \(storeFlags.describe(dataDir: dataDir)))\n")
                if let secured, let kubeconfig {
                    secured.registerLoopback(server: local)
                    writeAll(2, "skiff master: admin kubeconfig in \(kubeconfig) (kubectl --kubeconfig \(kubeconfig) get nodes)\n")
                    writeAll(2, "skiff master: nodes join with: skiff node --server \(local) --token $(cat \(secured.nodeToken))\n")
                }
                if controllers {
                    let options = try controllerOptions.options(server: local, rootCAPEM: secured?.ca.certificatePEM)
                    let elector = election.elector(server: local, lease: "kube-controller-manager")
                    Thread.detachNewThread {
                        elector?.acquire(log: log)
                        ControllerManager(options: options, metrics: metrics, log: log).start()
                    }
                }
                if scheduler {
                    let elector = election.elector(server: local, lease: "kube-scheduler")
                    Thread.detachNewThread {
                        elector?.acquire(log: log)
                        Scheduler(options: SchedulerOptions(server: local), metrics: metrics, log: log).run()
                    }
                }
                await publishClusterDNSService(api, advertise: advertise, dnsPort: startClusterDNS(server: local, host: advertise, log: log))
                onReady?(local, secured)
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

/// Where the master keeps its state: the embedded SQLite store, or an etcd cluster.
struct StoreFlags: ParsableArguments {
    enum Kind: String, ExpressibleByArgument { case sqlite, etcd }

    @Option(name: .customLong("store"), help: "sqlite (embedded, in --data-dir) or etcd (--etcd-endpoints).")
    var kind: Kind = .sqlite

    @OptionGroup var etcd: EtcdFlags

    @Option(name: [.customLong("encryption-key-file"), .customLong("encryption-provider-config")],
            help: "Encrypt Secrets at rest: a file with a base64 AES key (head -c 32 /dev/urandom | base64), or a Kubernetes EncryptionConfiguration (aesgcm, identity).")
    var encryptionConfig: String?

    func open(dataDir: String) throws -> any KeyValueStore {
        let store: any KeyValueStore
        switch kind {
        case .sqlite:
            try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
            store = try SQLiteStore(path: dataDir + "/state.db")
        case .etcd:
            store = try etcd.open()
        }
        guard let encryptionConfig else { return store }
        do { return try EncryptionConfig.wrap(store, configFile: encryptionConfig) }
        catch { throw ValidationError("\(error)") }
    }

    func describe(dataDir: String) -> String { kind == .sqlite ? dataDir : "etcd \(etcd.endpoints)" }
}

/// An etcd cluster to keep the state in.
struct EtcdFlags: ParsableArguments {
    @Option(name: .customLong("etcd-endpoints"), help: "etcd client URLs, comma-separated (http:// or https://).")
    var endpoints: String = "http://127.0.0.1:2379"

    @Option(name: .customLong("etcd-prefix"), help: "Prefix of the master's keys in etcd.")
    var prefix: String = "/skiff"

    @Option(name: .customLong("etcd-cafile"), help: "CA bundle that signed the etcd members' certificates.")
    var caFile: String?

    @Option(name: .customLong("etcd-certfile"), help: "Client certificate for etcd.")
    var certFile: String?

    @Option(name: .customLong("etcd-keyfile"), help: "Client key for etcd.")
    var keyFile: String?

    func open() throws -> EtcdStore {
        guard (certFile == nil) == (keyFile == nil) else { throw ValidationError("--etcd-certfile and --etcd-keyfile go together") }
        var options = EtcdStore.Options(endpoints: endpoints.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) })
        options.keyPrefix = prefix
        options.tls = TLSOptions(caFile: caFile, certFile: certFile, keyFile: keyFile)
        do {
            let store = try EtcdStore(options: options)
            store.log = { writeAll(2, "skiff: " + $0 + "\n") }
            return store
        } catch {
            throw ValidationError("cannot use etcd at \(endpoints): \(error)")
        }
    }
}

/// The error that stopped the server task, handed to the blocked main thread.
final class FailureBox: @unchecked Sendable {
    private let lock = NSLock()
    private var message: String?
    func set(_ m: String) { lock.lock(); message = m; lock.unlock() }
    func get() -> String? { lock.lock(); defer { lock.unlock() }; return message }
}
