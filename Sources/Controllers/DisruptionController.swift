// The disruption controller (kube-controller-manager's): keeps each PodDisruptionBudget's status
// — the pods it expects, how many are healthy (Ready, not being deleted, not just evicted), how
// many must be, and so how many may be disrupted now — for the eviction subresource to act on.
// Evictions the API server let through wait in status.disruptedPods until the pod is seen being
// deleted, or for 2 minutes. It also resets a pod's DisruptionTarget condition that an eviction
// set 2 minutes ago when the pod was never deleted (a delete that failed after the condition).
import API
import Client
import Foundation

/// The arithmetic of a budget's status, apart from where pods and scales come from.
enum DisruptionMath {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// expectedPods and desiredHealthy (getExpectedPodCount): an integer minAvailable counts the
    /// selected pods; a percentage, or maxUnavailable, scales against `scale()` — the replicas of
    /// the pods' controllers — rounding up.
    static func expectedAndDesired(_ spec: PodDisruptionBudgetSpec, pods: Int, scale: () -> Int64) throws -> (expected: Int64, desired: Int64) {
        func scaled(_ v: IntOrString, _ total: Int64) throws -> Int64 {
            guard let n = v.scaled(total: total, roundUp: true) else {
                throw Failure(description: "invalid value for IntOrString: invalid value \"\(v.json.stringValue ?? "")\": must be an integer or percentage")
            }
            return n
        }
        if let maxUnavailable = spec.maxUnavailable {
            let expected = scale()
            return (expected, max(0, expected - (try scaled(maxUnavailable, expected))))
        }
        switch spec.minAvailable {
        case .int(let n)?: return (Int64(pods), n)
        case let percent?:
            let expected = scale()
            return (expected, try scaled(percent, expected))
        case nil: return (0, 0)
        }
    }

    /// The disruptedPods entries still pending (pods present, not yet being deleted, evicted less
    /// than 2 minutes ago), and when the first of them expires.
    static func pendingDisruptions(_ recorded: [String: Date], pods: [Pod], now: Date) -> (pending: [String: Date], recheck: Date?) {
        var pending: [String: Date] = [:]
        var recheck: Date?
        for pod in pods where !pod.isBeingDeleted {
            guard let at = recorded[pod.name] else { continue }
            let expiry = at.addingTimeInterval(PolicyRules.disruptedPodTimeout)
            guard expiry >= now else { continue }
            pending[pod.name] = at
            recheck = min(recheck ?? expiry, expiry)
        }
        return (pending, recheck)
    }

    /// Ready pods that are neither being deleted nor just evicted.
    static func currentHealthy(_ pods: [Pod], pending: [String: Date]) -> Int64 {
        Int64(pods.filter { !$0.isBeingDeleted && pending[$0.name] == nil && $0.isReady }.count)
    }

    /// The status a budget should have (upstream's trySync and updatePdbStatus), and when to look again.
    static func status(of pdb: PodDisruptionBudget, pods: [Pod], scale: () -> Int64, now: Date) -> (status: PodDisruptionBudgetStatus, recheck: Date?) {
        var status = pdb.status
        let expected: Int64, desired: Int64
        do {
            (expected, desired) = try expectedAndDesired(pdb.spec, pods: pods.count, scale: scale)
        } catch {
            // failSafe: nothing may be disrupted while the budget cannot be worked out.
            status.disruptionsAllowed = 0
            status.setCondition(PolicyRules.disruptionAllowedCondition, .false, reason: PolicyRules.syncFailedReason,
                                message: "\(error)", now: now)
            return (status, nil)
        }
        let (pending, recheck) = pendingDisruptions(pdb.status.disruptedPods ?? [:], pods: pods, now: now)
        let healthy = currentHealthy(pods, pending: pending)
        status.currentHealthy = healthy
        status.desiredHealthy = desired
        status.expectedPods = expected
        // No disruptions while nothing is expected: a budget's first pods are safe until it is synced.
        status.disruptionsAllowed = expected <= 0 ? 0 : max(0, healthy - desired)
        status.disruptedPods = pending.isEmpty ? nil : pending
        status.observedGeneration = pdb.metadata.generation
        status.updateDisruptionAllowedCondition(now: now)
        return (status, recheck)
    }
}

/// The replicas a pod's controller wants (getExpectedScale's finders): a ReplicaSet's, or its
/// Deployment's when one owns it, or a ReplicationController's. Pods without a known controller
/// count one each.
struct WorkloadScales: Sendable {
    let replicaSets: Lister<ReplicaSet>
    let deployments: Lister<Deployment>
    let replicationControllers: Lister<ReplicationController>
    let statefulSets: Lister<StatefulSet>

    /// The summed scale of the pods' controllers, each controller counted once.
    func expected(_ pods: [Pod]) -> Int64 {
        var scales: [String: Int64] = [:]   // controller uid (or pod uid) → replicas
        for pod in pods {
            if let owner = controllerScale(pod) { scales[owner.uid] = owner.replicas } else { scales[pod.uid.isEmpty ? pod.key : pod.uid] = 1 }
        }
        return scales.values.reduce(0, +)
    }

    func controllerScale(_ pod: Pod) -> (uid: String, replicas: Int64)? {
        guard let ref = pod.controllerRef, let name = ref.name, let uid = ref.uid else { return nil }
        let group = ref.apiVersion?.split(separator: "/").dropLast().first.map(String.init) ?? ""
        switch (group, ref.kind) {
        case ("apps", "ReplicaSet"):
            guard let rs = replicaSets.get(pod.namespace + "/" + name), rs.uid == uid else { return nil }
            if let owner = rs.controllerRef, owner.kind == Deployment.kind, let dname = owner.name,
               let d = deployments.get(pod.namespace + "/" + dname), d.uid == owner.uid {
                return (d.uid, d.spec.replicas ?? 1)
            }
            return (rs.uid, rs.spec.replicas ?? 1)
        case ("apps", "StatefulSet"):
            guard let set = statefulSets.get(pod.namespace + "/" + name), set.uid == uid else { return nil }
            return (set.uid, set.spec.replicas ?? 1)
        case ("", "ReplicationController"):
            guard let rc = replicationControllers.get(pod.namespace + "/" + name), rc.uid == uid else { return nil }
            return (rc.uid, rc.spec.replicas ?? 1)
        default:
            return nil
        }
    }
}

final class DisruptionController: Controller, InitialKeys, @unchecked Sendable {
    let name = "disruption"
    let queue = WorkQueue()
    let budgets: Lister<PodDisruptionBudget>
    let pods: Lister<Pod>
    let scales: WorkloadScales
    let events: EventRecorder?
    let now: @Sendable () -> Date
    /// Keys of pods whose DisruptionTarget condition may be stale start with this.
    static let podKeyPrefix = "pod:"

    init(budgets: Lister<PodDisruptionBudget>, pods: Lister<Pod>, scales: WorkloadScales, events: EventRecorder?,
         now: @escaping @Sendable () -> Date = { Date() }) {
        self.budgets = budgets
        self.pods = pods
        self.scales = scales
        self.events = events
        self.now = now
    }

    /// Wires the informers to the queue (unit tests wire a FakeObjectClient's changes instead).
    func watch(budgets budgetInformer: Informer, pods podInformer: Informer) {
        budgetInformer.onChange(PodDisruptionBudget.self) { [self] old, new in if let b = new ?? old { queue.add(b.key) } }
        podInformer.onChange(Pod.self) { [self] in podChanged(old: $0, new: $1) }
    }

    /// A pod appeared, changed or went: the budgets that select it (before or after) sync.
    func podChanged(old: Pod?, new: Pod?) {
        var keys = Set<String>()
        for pod in [old, new].compactMap({ $0 }) {
            for pdb in budgets.list(namespace: pod.namespace) where PolicyRules.selector(pdb)?.matches(pod.metadata.labels ?? [:]) == true {
                keys.insert(pdb.key)
            }
        }
        for key in keys { queue.add(key) }
        if let pod = new, let wait = staleDisruptionWait(pod) { queue.addAfter(Self.podKeyPrefix + pod.key, max(0.05, wait)) }
    }

    func initialKeys() -> [String] {
        budgets.list().map(\.key) + pods.list().filter { staleDisruptionWait($0) != nil }.map { Self.podKeyPrefix + $0.key }
    }

    func sync(_ key: String, client: APIClient) throws { try sync(key, client: client as ObjectClient) }

    func sync(_ key: String, client: ObjectClient) throws {
        if key.hasPrefix(Self.podKeyPrefix) { return try clearStaleDisruption(String(key.dropFirst(Self.podKeyPrefix.count)), client: client) }
        guard let pdb = budgets.get(key) else { return }
        let selected = PolicyRules.selector(pdb).map { selector in
            pods.list(namespace: pdb.namespace).filter { selector.matches($0.metadata.labels ?? [:]) }
        } ?? []
        if selected.isEmpty { events?.object(pdb, reason: "NoPods", message: "No matching pods found") }
        let at = now()
        let (status, recheck) = DisruptionMath.status(of: pdb, pods: selected, scale: { scales.expected(selected) }, now: at)
        if status.json != pdb.status.json {
            var updated = pdb
            updated.status = status
            _ = try client.updateStatus(updated)
        }
        if let recheck { queue.addAfter(key, max(0.05, recheck.timeIntervalSince(at))) }
    }

    // MARK: stale DisruptionTarget conditions

    /// Seconds until an eviction's DisruptionTarget condition on a pod that is still not being
    /// deleted counts as stale (0: now), or nil when it has none to clear.
    func staleDisruptionWait(_ pod: Pod) -> Double? {
        guard !pod.isBeingDeleted, !pod.isTerminal,
              let c = pod.status.conditions.first(where: { $0.type == PolicyRules.disruptionTargetCondition }),
              c.status == .true, c.reason != "TerminationByKubelet" else { return nil }
        let since = c.lastTransitionTime ?? now()
        return max(0, since.addingTimeInterval(PolicyRules.disruptedPodTimeout).timeIntervalSince(now()))
    }

    func clearStaleDisruption(_ podKey: String, client: ObjectClient) throws {
        guard let pod = pods.get(podKey), let wait = staleDisruptionWait(pod) else { return }
        if wait > 0 {
            queue.addAfter(Self.podKeyPrefix + podKey, wait)
            return
        }
        var updated = pod
        updated.status.setCondition(PolicyRules.disruptionTargetCondition, .false, reason: nil, message: nil, now: now())
        _ = try client.updateStatus(updated)
    }
}
