// The controller manager: shared informers (one list+watch per resource for every controller)
// and the controllers, each a work queue of object keys drained by its own worker thread with its
// own API connection. Runs inside `skiff master` or as `skiff controller-manager`.
import API
import Client
import Foundation
import Telemetry

public struct ControllerOptions: Sendable {
    public var server: String
    /// A node whose Lease is older than this is unreachable (kube-controller-manager: 40 s).
    public var nodeMonitorGracePeriod: Double = 40
    /// How long pods stay on an unreachable node before eviction (unless they tolerate it longer).
    public var podEvictionTimeout: Double = 300
    /// Every ResourceQuota's usage is recounted this often (kube-controller-manager: 5 m).
    public var resourceQuotaSyncPeriod: Double = 300
    /// How often each HorizontalPodAutoscaler is reconciled.
    public var horizontalPodAutoscalerSyncPeriod: Double = 15
    /// The scale-down stabilization window of HPAs that don't set their own.
    public var horizontalPodAutoscalerDownscaleStabilization: Double = 300
    /// Pod CIDRs for nodes come from here (a /24 each).
    public var clusterCIDR = IPv4CIDR("10.244.0.0/16")!
    /// The cluster CA (PEM) published to every namespace as ConfigMap kube-root-ca.crt (nil: not published).
    public var rootCAPEM: String?
    public init(server: String) { self.server = server }
}

/// The informers every controller reads from.
final class SharedInformers: @unchecked Sendable {
    let pods, replicaSets, replicationControllers, deployments, services, nodes, leases, endpointSlices: Informer
    let namespaces: Informer
    let jobs, cronJobs, daemonSets, controllerRevisions, statefulSets, claims, volumes, storageClasses: Informer
    let budgets, resourceQuotas: Informer
    let autoscalers: Informer
    /// Only the kube-root-ca.crt ConfigMaps (a field selector), not every ConfigMap in the cluster.
    let rootCAConfigMaps: Informer

    init(server: String) {
        pods = Informer(server: server, path: "/api/v1/pods")
        replicaSets = Informer(server: server, path: "/apis/apps/v1/replicasets")
        replicationControllers = Informer(server: server, path: "/api/v1/replicationcontrollers")
        deployments = Informer(server: server, path: "/apis/apps/v1/deployments")
        services = Informer(server: server, path: "/api/v1/services")
        nodes = Informer(server: server, path: "/api/v1/nodes")
        leases = Informer(server: server, path: "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases")
        endpointSlices = Informer(server: server, path: "/apis/discovery.k8s.io/v1/endpointslices")
        namespaces = Informer(server: server, path: "/api/v1/namespaces")
        jobs = Informer(Job.self, server: server)
        cronJobs = Informer(CronJob.self, server: server)
        daemonSets = Informer(DaemonSet.self, server: server)
        controllerRevisions = Informer(ControllerRevision.self, server: server)
        statefulSets = Informer(StatefulSet.self, server: server)
        claims = Informer(PersistentVolumeClaim.self, server: server)
        volumes = Informer(PersistentVolume.self, server: server)
        storageClasses = Informer(StorageClass.self, server: server)
        budgets = Informer(PodDisruptionBudget.self, server: server)
        resourceQuotas = Informer(ResourceQuota.self, server: server)
        autoscalers = Informer(HorizontalPodAutoscaler.self, server: server)
        rootCAConfigMaps = Informer(server: server, path: "/api/v1/configmaps", query: "fieldSelector=metadata.name%3D" + RootCAPublisher.configMapName)
    }

    /// The informers the controllers use (the root CA ones only when it is published).
    func all(publishingRootCA: Bool) -> [Informer] {
        [pods, replicaSets, replicationControllers, deployments, services, nodes, leases, endpointSlices, jobs, cronJobs, daemonSets,
         controllerRevisions, statefulSets, claims, volumes, storageClasses, budgets, resourceQuotas, autoscalers]
            + (publishingRootCA ? [namespaces, rootCAConfigMaps] : [])
    }

    /// Objects of one namespace from an informer.
    func inNamespace(_ informer: Informer, _ namespace: String) -> [JSONValue] {
        informer.items.filter { $0["metadata"]?["namespace"]?.stringValue == namespace }
    }
}

/// A reconcile loop: keys in, one sync at a time per key; errors retry with back-off.
protocol Controller: AnyObject, Sendable {
    var name: String { get }
    var queue: WorkQueue { get }
    /// Workers draining the queue (the queue never hands one key to two of them at once).
    var workers: Int { get }
    /// Reconciles one object; throwing retries the key later.
    func sync(_ key: String, client: APIClient) throws
}

extension Controller {
    var workers: Int { 1 }
}

public final class ControllerManager: @unchecked Sendable {
    let options: ControllerOptions
    let informers: SharedInformers
    let log: @Sendable (String) -> Void
    /// Where each controller's work queue records its workqueue_* series (the master's registry in `skiff master`).
    let metrics: MetricsRegistry?
    private(set) var controllers: [any Controller] = []

    public init(options: ControllerOptions, metrics: MetricsRegistry? = nil, log: @escaping @Sendable (String) -> Void) {
        self.options = options
        self.informers = SharedInformers(server: options.server)
        self.metrics = metrics
        self.log = log
    }

    /// Starts the informers and every controller, then returns.
    public func start() {
        let rs = ReplicaSetController(kind: .replicaSet, informers: informers)
        let rc = ReplicaSetController(kind: .replicationController, informers: informers)
        controllers = [rs, rc, DeploymentController(informers: informers), EndpointsController(informers: informers),
                       NodeLifecycleController(informers: informers, options: options), GarbageCollector(informers: informers),
                       NodeIPAMController(informers: informers, clusterCIDR: options.clusterCIDR)]
        let events = EventRecorder(component: "job-controller") { [options] in try? APIClient(server: options.server) }
        let job = JobController(jobs: Lister(informers.jobs), pods: Lister(informers.pods), events: events)
        job.watch(jobs: informers.jobs, pods: informers.pods)
        let ttl = TTLAfterFinishedController(jobs: Lister(informers.jobs))
        ttl.watch(informers.jobs)
        let cronJobEvents = EventRecorder(component: "cronjob-controller") { [options] in try? APIClient(server: options.server) }
        let cronJob = CronJobController(cronJobs: Lister(informers.cronJobs), jobs: Lister(informers.jobs), events: cronJobEvents)
        cronJob.watch(cronJobs: informers.cronJobs, jobs: informers.jobs)
        let daemonSetEvents = EventRecorder(component: "daemonset-controller") { [options] in try? APIClient(server: options.server) }
        let daemonSet = DaemonSetController(daemonSets: Lister(informers.daemonSets), pods: Lister(informers.pods), nodes: Lister(informers.nodes),
                                            revisions: Lister(informers.controllerRevisions), events: daemonSetEvents)
        daemonSet.watch(daemonSets: informers.daemonSets, pods: informers.pods, nodes: informers.nodes)
        let statefulSetEvents = EventRecorder(component: "statefulset-controller") { [options] in try? APIClient(server: options.server) }
        let statefulSet = StatefulSetController(statefulSets: Lister(informers.statefulSets), pods: Lister(informers.pods),
                                                claims: Lister(informers.claims), revisions: Lister(informers.controllerRevisions),
                                                events: statefulSetEvents)
        statefulSet.watch(statefulSets: informers.statefulSets, pods: informers.pods)
        let scales = WorkloadScales(replicaSets: Lister(informers.replicaSets), deployments: Lister(informers.deployments),
                                    replicationControllers: Lister(informers.replicationControllers),
                                    statefulSets: Lister(informers.statefulSets))
        let disruptionEvents = EventRecorder(component: "controllermanager") { [options] in try? APIClient(server: options.server) }
        let disruption = DisruptionController(budgets: Lister(informers.budgets), pods: Lister(informers.pods), scales: scales,
                                              events: disruptionEvents)
        disruption.watch(budgets: informers.budgets, pods: informers.pods)
        let volumeEvents = EventRecorder(component: "persistentvolume-controller") { [options] in try? APIClient(server: options.server) }
        let binder = PersistentVolumeController(claims: Lister(informers.claims), volumes: Lister(informers.volumes),
                                                classes: Lister(informers.storageClasses), nodes: Lister(informers.nodes), events: volumeEvents)
        binder.watch(claims: informers.claims, volumes: informers.volumes, classes: informers.storageClasses)
        let protection = StorageProtectionController(claims: Lister(informers.claims), volumes: Lister(informers.volumes), pods: Lister(informers.pods))
        protection.watch(claims: informers.claims, volumes: informers.volumes, pods: informers.pods)
        let ephemeralEvents = EventRecorder(component: "ephemeral_volume") { [options] in try? APIClient(server: options.server) }
        let ephemeral = EphemeralVolumeController(pods: Lister(informers.pods), claims: Lister(informers.claims), events: ephemeralEvents)
        ephemeral.watch(pods: informers.pods, claims: informers.claims)
        let autoscalerEvents = EventRecorder(component: "horizontal-pod-autoscaler") { [options] in try? APIClient(server: options.server) }
        let autoscaler = HorizontalPodAutoscalerController(autoscalers: Lister(informers.autoscalers), pods: Lister(informers.pods),
                                                           events: autoscalerEvents, syncPeriod: options.horizontalPodAutoscalerSyncPeriod)
        autoscaler.normalizer.downscaleStabilization = options.horizontalPodAutoscalerDownscaleStabilization
        autoscaler.watch(informers.autoscalers)
        controllers += [job, ttl, cronJob, daemonSet, statefulSet, disruption, binder, protection, ephemeral, autoscaler,
                        resourceQuotaController()]
        if let ca = options.rootCAPEM {
            let publisher = RootCAPublisher(namespaces: Lister(informers.namespaces), configMaps: Lister(informers.rootCAConfigMaps), caPEM: ca)
            publisher.watch(namespaces: informers.namespaces, configMaps: informers.rootCAConfigMaps)
            controllers.append(publisher)
        }
        // (Before the informers deliver the first keys, so every add is counted and timed.)
        if let metrics { for c in controllers { c.queue.instrument(name: c.name, registry: metrics) } }
        let used = informers.all(publishingRootCA: options.rootCAPEM != nil)
        for informer in used { informer.start() }
        for informer in used { informer.waitForSync() }
        for c in controllers {
            for key in (c as? InitialKeys)?.initialKeys() ?? [] { c.queue.add(key) }
            Self.startWorkers(c, server: options.server, log: log)
        }
        log("controllers running: " + controllers.map(\.name).joined(separator: ", "))
    }

    /// The quota controller over the shared informers (and monitors it starts for other counted kinds).
    func resourceQuotaController() -> ResourceQuotaController {
        let monitors = QuotaMonitors(server: options.server, informers: informers)
        let controller = ResourceQuotaController(quotas: Lister(informers.resourceQuotas),
                                                 objects: { monitors.objects($0, namespace: $1) },
                                                 resyncPeriod: options.resourceQuotaSyncPeriod)
        monitors.changed = { [controller] resource, old, new in controller.objectChanged(resource, old: old, new: new) }
        controller.watch(quotas: informers.resourceQuotas)
        return controller
    }

    /// Each controller's workers are threads of their own with their own API connection, so a
    /// slow or failing sync holds up only its own controller's other keys.
    static func startWorkers(_ c: any Controller, server: String, log: @escaping @Sendable (String) -> Void) {
        for _ in 0..<max(1, c.workers) { Thread.detachNewThread { work(c, server: server, log: log) } }
    }

    @_optimize(none)   // control loop: the release optimizer (LICM) stalls on it
    private static func work(_ c: any Controller, server: String, log: (String) -> Void) {
        var client: APIClient?
        while true {
            let key = c.queue.get()
            if client == nil { client = try? APIClient(server: server, userAgent: "kube-controller-manager") }
            guard let api = client else { c.queue.done(key); c.queue.addRateLimited(key); Thread.sleep(forTimeInterval: 0.5); continue }
            do {
                try c.sync(key, client: api)
                c.queue.forget(key)
            } catch let e as APIStatusError {
                // The API answered: the connection is fine. A conflict means our cache was behind
                // our own last write; the retry reads the newer object, nothing to report.
                if !e.isConflict { log("\(c.name) \(key): \(e)") }
                c.queue.addRateLimited(key)
            } catch {
                log("\(c.name) \(key): \(error)")
                client = nil
                c.queue.addRateLimited(key)
            }
            c.queue.done(key)
        }
    }
}

/// Controllers that want every existing object reconciled once at start.
protocol InitialKeys {
    func initialKeys() -> [String]
}

// MARK: - helpers shared by the controllers

/// The owner reference marked controller: true.
func controllerRef(_ o: JSONValue) -> JSONValue? {
    (o["metadata"]?["ownerReferences"]?.arrayValue ?? []).first { $0["controller"]?.boolValue == true }
}

func uid(_ o: JSONValue) -> String { o["metadata"]?["uid"]?.stringValue ?? "" }
func namespaceOf(_ key: String) -> String { key.split(separator: "/", maxSplits: 1).first.map(String.init) ?? "" }
func nameOf(_ key: String) -> String { key.split(separator: "/", maxSplits: 1).last.map(String.init) ?? key }

/// Not finished and not being deleted: counts toward replicas.
func isActive(_ pod: JSONValue) -> Bool {
    let phase = pod["status"]?["phase"]?.stringValue
    return phase != "Succeeded" && phase != "Failed" && pod["metadata"]?["deletionTimestamp"] == nil
}

func readyCondition(_ pod: JSONValue) -> JSONValue? {
    (pod["status"]?["conditions"]?.arrayValue ?? []).first { $0["type"]?.stringValue == "Ready" }
}

func isReady(_ pod: JSONValue) -> Bool { readyCondition(pod)?["status"]?.stringValue == "True" }

/// Ready for at least minReadySeconds.
func isAvailable(_ pod: JSONValue, minReadySeconds: Int64, now: Date = Date()) -> Bool {
    guard isReady(pod) else { return false }
    if minReadySeconds <= 0 { return true }
    guard let since = readyCondition(pod)?["lastTransitionTime"]?.stringValue.flatMap(parseTime) else { return false }
    return now.timeIntervalSince(since) >= Double(minReadySeconds)
}

func parseTime(_ s: String) -> Date? { KubeTime.parse(s) }

func timestamp(_ d: Date = Date()) -> String { KubeTime.format(d) }

extension APIClient {
    /// Sends and requires a 2xx (404 too when `missingOK`); the Status message otherwise.
    @discardableResult
    func send(_ method: String, _ path: String, _ body: JSONValue? = nil, contentType: String = "application/json",
              missingOK: Bool = false) throws -> APIResponse {
        let r = try request(method, path, body: body?.serialized(), contentType: contentType)
        if (200..<300).contains(r.code) || (missingOK && r.code == 404) { return r }
        throw ClientError("\(method) \(path): \(r.errorMessage)")
    }
}
