// `skiff node`: registers a Node, keeps its Lease and status fresh, watches the pods bound to
// it and reconciles them against the containers the runtime has — start, restart per policy,
// report status, stop and remove on deletion, then confirm the deletion to the API server.
// Each pod gets a sandbox (shared namespaces), a QoS cgroup, volumes, init containers, then its
// app containers (see PodSync).
import API
import Client
import Foundation
import Images
import Registry
import Runtime
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

public struct NodeOptions: Sendable {
    public var server: String
    public var name: String
    public var rootDir: String
    public var cgroupRoot: String
    public var registry: RegistryConfig
    public var maxPods = 110
    public var syncInterval: Double = 1
    /// Pods synced at once (each waits on its own CNI plugins, image and container starts).
    public var podWorkers = 8
    /// The node server's address and port (0: any free port).
    public var address = "0.0.0.0"
    public var port = 10250
    /// Container log rotation (kubelet containerLogMaxSize / containerLogMaxFiles).
    public var containerLogMaxBytes: Int64 = 10 << 20
    public var containerLogMaxFiles = 5
    /// Image GC: past highPercent of the image filesystem, unused images go until under lowPercent.
    public var imageGCHighPercent = 85
    public var imageGCLowPercent = 80
    public var imageGCInterval: Double = 300
    /// How often running pods' ConfigMap, Secret and downward API volumes are refreshed (kubelet --sync-frequency).
    public var syncFrequency: Double = 60
    /// CNI plugins and configuration (a default bridge network is written there when empty).
    public var cniBinDirs = ["/usr/lib/cni", "/opt/cni/bin"]
    public var cniConfDir = "/etc/cni/net.d"
    /// All pods' addresses (the master's --cluster-cidr): pod traffic leaving it is masqueraded,
    /// traffic to other pods keeps its source address.
    public var clusterCIDR = "10.244.0.0/16"
    /// Static pod manifests (run without an API server; mirrored into it when there is one).
    public var manifests: String?
    /// The address reported for this node (InternalIP, pods' hostIP); nil: the first non-loopback IPv4.
    public var nodeIP: String?
    /// The node server's TLS (a joined node): it then requires a client certificate from the
    /// cluster CA in group system:masters (the API server's), so logs and exec are never anonymous.
    public var serverTLS: NodeServerTLS?
    /// The cluster DNS servers pods with dnsPolicy ClusterFirst use (--cluster-dns); empty: the host's resolver.
    public var clusterDNS: [String] = []
    /// The cluster's DNS domain (--cluster-domain).
    public var clusterDomain = "cluster.local"
    /// The host resolver file pods with dnsPolicy Default copy (--resolv-conf).
    public var resolvConf = "/etc/resolv.conf"

    public init(server: String, name: String, rootDir: String, cgroupRoot: String, registry: RegistryConfig) {
        self.server = server; self.name = name; self.rootDir = rootDir; self.cgroupRoot = cgroupRoot; self.registry = registry
    }
}

public struct NodeServerTLS: Sendable {
    public var certificate: String, key: String, ca: String
    public init(certificate: String, key: String, ca: String) { self.certificate = certificate; self.key = key; self.ca = ca }
}

public final class NodeAgent: @unchecked Sendable {
    let options: NodeOptions
    let runtime: ContainerRuntime
    let pods = PodCache()
    /// Counts claims becoming Bound: a pod waiting for its claim retries at once, not on its 2 s timer.
    let claimsBound = Mutex(0)
    /// Counts changes outside the pods and their containers (an image pulled, a probe result, a
    /// claim bound, the pod CIDR): every pod syncs again after one (see PodSync.fingerprint).
    let nodeChanges = Mutex(0)
    let log: (String) -> Void
    /// This agent's /metrics (kubelet_*, process_*): its own registry, never shared with another agent or a master.
    let metrics: KubeletMetrics
    /// The node server's bound port (reported in the Node's daemonEndpoints).
    private(set) var serverPort = 0
    private(set) var events: EventRecorder!
    private(set) var images: ImagePuller!
    private(set) var probes: ProbeManager!
    private(set) var staticPods: StaticPods?
    private(set) var network: PodNetworking!
    private(set) var routes: NodeRoutes!
    /// Bound service account tokens for projected volumes.
    private(set) var tokens: TokenManager!
    /// The Services, for pods' service environment variables.
    let serviceLister: ServiceLister
    /// The host's resolver, read at start (dnsPolicy Default, extra search domains).
    let hostResolver: ResolvConf
    /// How pods' /etc/resolv.conf is made: --cluster-dns, else the kube-dns Service's cluster IP.
    var dnsSettings: ClusterDNSSettings {
        let servers = options.clusterDNS.isEmpty ? serviceLister.clusterDNSAddress().map { [$0] } ?? [] : options.clusterDNS
        return ClusterDNSSettings(servers: servers, domain: options.clusterDomain, host: hostResolver)
    }
    private let podCIDRLock = NSLock()
    private var podCIDRValue: String?
    /// The node's spec.podCIDR once the master assigned one.
    var podCIDR: String? { podCIDRLock.lock(); defer { podCIDRLock.unlock() }; return podCIDRValue }

    public init(options: NodeOptions, log: @escaping (String) -> Void) throws {
        self.options = options
        self.log = log
        if let ip = options.nodeIP { NodeInfo.configuredIP = ip }
        runtime = try ContainerRuntime(options: RuntimeOptions(root: options.rootDir, cgroupParent: options.cgroupRoot))
        metrics = KubeletMetrics(node: options.name, runtime: runtime)
        try PodSandbox(rootDir: options.rootDir, cgroupRoot: options.cgroupRoot).prepareRootfs(monitorPath: runtime.options.monitorPath)
        let server = options.server
        serviceLister = ServiceLister(server: server)
        hostResolver = (try? String(contentsOfFile: options.resolvConf, encoding: .utf8)).map(ResolvConf.init(parsing:)) ?? ResolvConf()
        events = EventRecorder(component: "kubelet", host: options.name) { try? APIClient(server: server) }
        images = ImagePuller(agent: self)
        probes = ProbeManager(agent: self)
        network = PodNetworking(agent: self)
        routes = NodeRoutes(agent: self)
        tokens = TokenManager { try APIClient(server: server) }
        PodNetwork.networking = network
        if let dir = options.manifests { staticPods = StaticPods(dir: dir, node: options.name, log: log) }
    }

    /// The node's allocatable amount of a resource (cpu, memory, ephemeral-storage, pods).
    func allocatable(_ resource: String) -> String? {
        nodeObject()["status"]?["allocatable"]?[resource]?.stringValue
    }

    func client() throws -> APIClient { try APIClient(server: options.server, userAgent: "kubelet") }

    /// Something pods wait on changed (not a pod or its containers): all of them sync again.
    func nodeChanged() {
        nodeChanges.withLock { $0 += 1 }
        pods.changed.signal()
    }

    /// Runs forever: a heartbeat thread, a pod watch thread, and the sync loop on this thread.
    @_optimize(none)   // control loop: the release optimizer (LICM) stalls on it
    public func run() throws -> Never {
        serverPort = try NodeServer(agent: self).start(host: options.address, port: options.port)
        log("node server on \(options.address):\(serverPort)")
        Thread.detachNewThread { self.heartbeatLoop() }
        Thread.detachNewThread { self.watchLoop() }
        serviceLister.start()
        if staticPods != nil { Thread.detachNewThread { self.mirrorLoop() } }
        Thread.detachNewThread { self.imageGCLoop() }
        startProvisioner()
        let sync = PodSync(agent: self)
        while true {
            staticPods?.scan()
            sync.syncAll()
            // Wake at once when the API tells us something, else re-check on the interval
            // (container exits and back-off timers are noticed there). One pass covers every
            // change signalled so far: a burst of pod updates is not replayed pass by pass.
            _ = pods.changed.wait(timeout: .now() + options.syncInterval)
            while pods.changed.wait(timeout: .now()) == .success {}
        }
    }

    /// The local-path provisioner for this node's volumes (its own informers, queue and thread).
    func startProvisioner() {
        let server = options.server, node = options.name
        let claimInformer = Informer(PersistentVolumeClaim.self, server: server)
        let volumeInformer = Informer(PersistentVolume.self, server: server)
        let recorder = EventRecorder(component: LocalPathProvisioner.provisioner + "_" + node) { try? APIClient(server: server) }
        let log = self.log
        do {
            let provisioner = try LocalPathProvisioner(
                node: node, rootDir: options.rootDir, claims: Lister(claimInformer), volumes: Lister(volumeInformer),
                record: { object, type, reason, message in recorder.object(object, type: type, reason: reason, message: message) },
                log: log)
            // (Before start: the provisioner's own handlers come after this one.)
            claimInformer.onChange(PersistentVolumeClaim.self) { [self] old, new in
                guard let new, new.status.phase == "Bound", old?.status.phase != "Bound" else { return }
                claimsBound.withLock { $0 += 1 }
                nodeChanged()
            }
            provisioner.start(server: server, claimInformer: claimInformer, volumeInformer: volumeInformer)
        } catch {
            log("local-path provisioner not started: \(error)")
        }
    }

    // MARK: node registration and heartbeat

    @_optimize(none)   // control loop: the release optimizer (LICM) stalls on it
    func heartbeatLoop() {
        var backoff = 1.0
        var registered = false
        while true {
            do {
                let c = try client()
                if !registered { try register(c); registered = true; log("registered node \(options.name) with \(options.server)") }
                try renewLease(c)
                try updateNodeStatus(c)
                learnPodCIDR(c)
                routes.sync(c)
                backoff = 1.0
                // Until the master has given this node a pod CIDR, look again soon.
                Thread.sleep(forTimeInterval: podCIDR == nil ? 1 : 10)
            } catch {
                // The master may be down or restarting: keep the pods running and retry.
                log("heartbeat: \(error) (retrying in \(Int(backoff))s)")
                Thread.sleep(forTimeInterval: backoff)
                backoff = min(backoff * 2, 30)
            }
        }
    }

    func nodeObject() -> JSONValue {
        let memKiB = NodeInfo.memoryKiB()
        let cpus = Int64(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        let capacity: JSONValue = ["cpu": .string(String(cpus)), "memory": .string("\(memKiB)Ki"), "pods": .string(String(options.maxPods)),
                                   "ephemeral-storage": .string("\(NodeInfo.diskKiB(options.rootDir))Ki")]
        return ["apiVersion": "v1", "kind": "Node",
                "metadata": ["name": .string(options.name),
                             "labels": ["kubernetes.io/hostname": .string(options.name), "kubernetes.io/os": "linux",
                                        "kubernetes.io/arch": .string(NodeInfo.arch)]],
                "spec": .object(JSONObject()),
                "status": ["capacity": capacity, "allocatable": capacity, "conditions": .array(conditions()),
                           "daemonEndpoints": ["kubeletEndpoint": ["Port": .int(Int64(serverPort))]],
                           "addresses": [["type": "InternalIP", "address": .string(NodeInfo.hostIP())],
                                         ["type": "Hostname", "address": .string(options.name)]],
                           "nodeInfo": ["kernelVersion": .string(NodeInfo.kernel()), "osImage": .string(NodeInfo.osImage()),
                                        "containerRuntimeVersion": "skiff://0.1", "kubeletVersion": "v1.31.0-skiff",
                                        "kubeProxyVersion": "v1.31.0-skiff", "operatingSystem": "linux",
                                        "architecture": .string(NodeInfo.arch), "machineID": .string(NodeInfo.machineID()),
                                        "systemUUID": "", "bootID": .string(NodeInfo.bootID())]]]
    }

    func conditions() -> [JSONValue] {
        let now = JSONValue.string(Timestamps.now())
        func c(_ type: String, _ status: String, _ reason: String, _ message: String) -> JSONValue {
            ["type": .string(type), "status": .string(status), "reason": .string(reason), "message": .string(message),
             "lastHeartbeatTime": now, "lastTransitionTime": now]
        }
        return [c("MemoryPressure", "False", "KubeletHasSufficientMemory", "skiff node has sufficient memory available"),
                c("DiskPressure", "False", "KubeletHasNoDiskPressure", "skiff node has no disk pressure"),
                c("PIDPressure", "False", "KubeletHasSufficientPID", "skiff node has sufficient PID available"),
                c("Ready", "True", "KubeletReady", "skiff node is posting ready status")]
    }

    /// spec.podCIDR, assigned by the master's node IPAM (looked at until it is there).
    func learnPodCIDR(_ c: APIClient) {
        guard podCIDR == nil, let r = try? c.get("/api/v1/nodes/\(options.name)"), r.code == 200,
              let cidr = (try? r.json())?["spec"]?["podCIDR"]?.stringValue else { return }
        podCIDRLock.lock(); podCIDRValue = cidr; podCIDRLock.unlock()
        log("pod CIDR \(cidr)")
        nodeChanged()
    }

    func register(_ c: APIClient) throws {
        let nodeType = try ResourceResolver.resolve("nodes")
        let r = try c.request("POST", ResourceResolver.path(nodeType, namespace: nil), body: nodeObject().serialized())
        guard r.code == 201 || r.code == 409 else { throw ClientError("registering node: \(r.errorMessage)") }
    }

    func updateNodeStatus(_ c: APIClient) throws {
        let nodeType = try ResourceResolver.resolve("nodes")
        let patch: JSONValue = ["status": nodeObject()["status"] ?? .null]
        let r = try c.request("PATCH", ResourceResolver.path(nodeType, namespace: nil, name: options.name, subresource: "status"),
                              body: patch.serialized(), contentType: "application/merge-patch+json")
        if r.code == 404 { try register(c); return }
        guard (200..<300).contains(r.code) else { throw ClientError("updating node status: \(r.errorMessage)") }
    }

    func renewLease(_ c: APIClient) throws {
        let leaseType = try ResourceResolver.resolve("leases.coordination.k8s.io")
        let now = JSONValue.string(Timestamps.nowMicro())
        let path = ResourceResolver.path(leaseType, namespace: "kube-node-lease", name: options.name)
        let renewal: JSONValue = ["spec": ["renewTime": now, "holderIdentity": .string(options.name)]]
        let r = try c.request("PATCH", path, body: renewal.serialized(),
                              contentType: "application/merge-patch+json")
        if r.code == 404 {
            let lease: JSONValue = ["apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                    "metadata": ["name": .string(options.name), "namespace": "kube-node-lease"],
                                    "spec": ["holderIdentity": .string(options.name), "leaseDurationSeconds": 40, "renewTime": now]]
            let created = try c.request("POST", ResourceResolver.path(leaseType, namespace: "kube-node-lease"), body: lease.serialized())
            guard created.code == 201 || created.code == 409 else { throw ClientError("creating lease: \(created.errorMessage)") }
        } else if !(200..<300).contains(r.code) {
            throw ClientError("renewing lease: \(r.errorMessage)")
        }
    }

    @_optimize(none)   // control loop: the release optimizer (LICM) stalls on it
    func imageGCLoop() {
        var gc = ImageGC(runtime: runtime, highPercent: options.imageGCHighPercent, lowPercent: options.imageGCLowPercent, log: log)
        gc.wanted = { [self] in
            (pods.all + (staticPods?.all ?? [])).flatMap { pod in
                ((pod["spec"]?["containers"]?.arrayValue ?? []) + (pod["spec"]?["initContainers"]?.arrayValue ?? [])).compactMap { $0["image"]?.stringValue }
            }
        }
        while true {
            Thread.sleep(forTimeInterval: options.imageGCInterval)
            gc.run()
        }
    }

    /// Keeps mirror pods of the static pods in the API server (every 2 s; the master may come and go).
    @_optimize(none)   // control loop: the release optimizer (LICM) stalls on it
    func mirrorLoop() {
        var client: APIClient?
        while true {
            if let staticPods, pods.isSynced {
                if client == nil { client = try? self.client() }
                if let client { staticPods.syncMirrors(client, apiPods: pods.all) }
            }
            Thread.sleep(forTimeInterval: 2)
        }
    }

    // MARK: pods bound here

    /// List, then watch from the list's version; on any error, list again after a pause.
    @_optimize(none)   // control loop: the release optimizer (LICM) stalls on it
    func watchLoop() {
        let selector = "fieldSelector=" + queryEscape("spec.nodeName=" + options.name)
        while true {
            do {
                let podType = try ResourceResolver.resolve("pods")
                let c = try client()
                let list = try c.get(ResourceResolver.path(podType, namespace: nil) + "?" + selector)
                guard list.code == 200 else { throw ClientError(list.errorMessage) }
                let body = try list.json()
                pods.replaceAll(body["items"]?.arrayValue ?? [])
                let rv = body["metadata"]?["resourceVersion"]?.stringValue ?? ""
                let watch = try c.watch(ResourceResolver.path(podType, namespace: nil) + "?watch=true&allowWatchBookmarks=true&resourceVersion=\(rv)&" + selector)
                defer { watch.close() }
                while let event = try watch.next() {
                    guard let type = event["type"]?.stringValue, let obj = event["object"] else { continue }
                    switch type {
                    case "ADDED", "MODIFIED": pods.put(obj)
                    case "DELETED": pods.remove(obj)
                    case "ERROR": throw ClientError(obj["message"]?.stringValue ?? "watch error")
                    default: break
                    }
                }
            } catch {
                log("pod watch: \(error) (relisting)")
                Thread.sleep(forTimeInterval: 1)
            }
        }
    }
}

/// The pods bound to this node, as last seen from the API (keyed by uid).
final class PodCache: @unchecked Sendable {
    private let lock = NSLock()
    /// Signalled on every change, to wake the sync loop.
    let changed = DispatchSemaphore(value: 0)
    private var byUID: [String: JSONValue] = [:]
    /// False until the first list arrives: until then nothing is removed as "gone".
    private(set) var synced = false

    func replaceAll(_ items: [JSONValue]) {
        lock.lock(); defer { lock.unlock() }
        byUID = [:]
        for p in items { if let uid = p["metadata"]?["uid"]?.stringValue { byUID[uid] = p } }
        synced = true
        changed.signal()
    }

    func put(_ p: JSONValue) {
        guard let uid = p["metadata"]?["uid"]?.stringValue else { return }
        lock.lock(); byUID[uid] = p; lock.unlock()
        changed.signal()
    }

    func remove(_ p: JSONValue) {
        guard let uid = p["metadata"]?["uid"]?.stringValue else { return }
        lock.lock(); byUID[uid] = nil; lock.unlock()
        changed.signal()
    }

    var all: [JSONValue] { lock.lock(); defer { lock.unlock() }; return Array(byUID.values) }
    var isSynced: Bool { lock.lock(); defer { lock.unlock() }; return synced }
}
