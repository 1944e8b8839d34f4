// The resource quota controller (kube-controller-manager's): keeps each ResourceQuota's
// status.hard (its spec's) and status.used (what the namespace's objects use, as API's
// QuotaEvaluator counts it) current. Admission charges writes as they happen; this recounts a
// quota when it appears or its limits change, when something it counts goes away or stops
// counting (a deleted object, a finished pod, a shrunk claim), and every quota at each full
// resync — which also takes back what a write that failed after its charge left behind.
import API
import Client
import Foundation

final class ResourceQuotaController: Controller, InitialKeys, @unchecked Sendable {
    let name = "resourcequota"
    let queue = WorkQueue()
    let quotas: Lister<ResourceQuota>
    /// One resource's objects of one namespace (QuotaMonitors over informers; a fake in tests).
    let objects: @Sendable (ResourceType, String) -> [JSONValue]
    let resyncPeriod: Double
    let now: @Sendable () -> Date
    /// The key whose sync queues every quota and comes back after the resync period.
    static let resyncKey = "resync:all"

    init(quotas: Lister<ResourceQuota>, objects: @escaping @Sendable (ResourceType, String) -> [JSONValue], resyncPeriod: Double,
         now: @escaping @Sendable () -> Date = { Date() }) {
        self.quotas = quotas
        self.objects = objects
        self.resyncPeriod = resyncPeriod
        self.now = now
    }

    /// Wires the quota informer to the queue (the monitors call `objectChanged`).
    func watch(quotas informer: Informer) {
        informer.onChange(ResourceQuota.self) { [self] old, new in
            guard let q = new else { return }
            if let old, ResourceList(parsing: old.spec.hard).isEqual(to: ResourceList(parsing: q.spec.hard)),
               ResourceList(parsing: q.status.hard).isEqual(to: ResourceList(parsing: q.spec.hard)) { return }
            queue.add(q.key)
        }
    }

    func initialKeys() -> [String] {
        queue.addAfter(Self.resyncKey, resyncPeriod)
        return quotas.list().map(\.key)
    }

    /// Something quotas count changed: recount the namespace's quotas when it stopped using
    /// something (deleted, finished, made smaller); growth was charged by admission already.
    func objectChanged(_ resource: ResourceType, old: JSONValue?, new: JSONValue?) {
        guard let old else { return }
        let key = objectKey(new ?? old)
        guard let new else { return requeue(namespace: namespaceOf(key)) }
        let evaluator = QuotaEvaluator.forResource(resource)
        switch evaluator.kind {
        case .pods:
            let at = now()
            if QuotaEvaluator.isCharged(Pod(json: old), now: at), !QuotaEvaluator.isCharged(Pod(json: new), now: at) {
                requeue(namespace: namespaceOf(key))
            }
        case .services, .claims:
            if !evaluator.usage(old, now: now()).isEqual(to: evaluator.usage(new, now: now())) { requeue(namespace: namespaceOf(key)) }
        case .objectCount: break
        }
    }

    func requeue(namespace: String) {
        for q in quotas.list(namespace: namespace) { queue.add(q.key) }
    }

    func sync(_ key: String, client: APIClient) throws { try sync(key, client: client as ObjectClient) }

    func sync(_ key: String, client: ObjectClient) throws {
        if key == Self.resyncKey {
            for q in quotas.list() { queue.add(q.key) }
            queue.addAfter(Self.resyncKey, resyncPeriod)
            return
        }
        guard let quota = quotas.get(key), !quota.isBeingDeleted else { return }
        let hard = ResourceList(parsing: quota.spec.hard)
        let used = QuotaEvaluator.usage(of: quota, objects: { objects($0, quota.namespace) }, now: now())
        let dirty = quota.status.hard == nil || quota.status.used == nil || !hard.isEqual(to: ResourceList(parsing: quota.status.hard))
            || !used.isEqual(to: ResourceList(parsing: quota.status.used))
        guard dirty else { return }
        var updated = quota
        updated.status.hard = hard.rendered
        updated.status.used = used.rendered
        // (With the resourceVersion read: a charge admission made since is a 409, and a recount.)
        _ = try client.updateStatus(updated)
    }
}

/// The informers the quota controller counts from: the shared ones, and for any other resource a
/// quota names (`count/secrets`, `count/jobs.batch`...) one started the first time it is asked.
final class QuotaMonitors: @unchecked Sendable {
    let server: String
    let informers: SharedInformers
    private let lock = NSLock()
    private var byResource: [String: Informer] = [:]
    /// Told of every change of a monitored resource (the controller's objectChanged). Set before
    /// the informers start, and never again: their threads only read it.
    var changed: @Sendable (ResourceType, JSONValue?, JSONValue?) -> Void = { _, _, _ in }

    init(server: String, informers: SharedInformers) {
        self.server = server
        self.informers = informers
        let shared: [(String, String, Informer)] = [
            ("v1", "pods", informers.pods), ("v1", "services", informers.services), ("v1", "persistentvolumeclaims", informers.claims),
            ("v1", "replicationcontrollers", informers.replicationControllers), ("v1", "resourcequotas", informers.resourceQuotas),
            ("apps/v1", "replicasets", informers.replicaSets), ("apps/v1", "deployments", informers.deployments),
            ("apps/v1", "daemonsets", informers.daemonSets), ("apps/v1", "statefulsets", informers.statefulSets),
            ("apps/v1", "controllerrevisions", informers.controllerRevisions), ("batch/v1", "jobs", informers.jobs),
            ("batch/v1", "cronjobs", informers.cronJobs), ("policy/v1", "poddisruptionbudgets", informers.budgets),
        ]
        for (groupVersion, plural, informer) in shared {
            if let r = ResourceRegistry.lookup(groupVersion: groupVersion, plural: plural) { watch(r, informer) }
        }
    }

    /// Called before the shared informers start (handlers must be in place by then).
    private func watch(_ resource: ResourceType, _ informer: Informer) {
        byResource[Self.name(resource)] = informer
        informer.onEvent { [self] event in
            switch event {
            case .added: break
            case .updated(let old, let new): changed(resource, old, new)
            case .deleted(let o): changed(resource, o, nil)
            }
        }
    }

    static func name(_ r: ResourceType) -> String { r.plural + "." + r.group }

    func objects(_ resource: ResourceType, namespace: String) -> [JSONValue] {
        informers.inNamespace(informer(for: resource), namespace)
    }

    private func informer(for resource: ResourceType) -> Informer {
        lock.lock()
        var started: Informer?
        let i = byResource[Self.name(resource)] ?? {
            let i = Informer(server: server, path: ResourceResolver.path(resource, namespace: nil))
            watch(resource, i)
            started = i
            return i
        }()
        lock.unlock()
        started?.start()
        i.waitForSync(timeout: 10)
        return i
    }
}
