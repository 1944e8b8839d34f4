// apps/v1 DaemonSets: one pod on each node the template may run on (nodeSelector, required node
// affinity, taints against the pod's tolerations plus the ones every daemon pod gets), created
// and removed as nodes come and go. Pods are pinned to their node by a matchFields node affinity
// and placed by the scheduler, as Kubernetes does. Template changes roll out per strategy:
// RollingUpdate (maxUnavailable old pods replaced at a time, or maxSurge new pods started next to
// the old ones) or OnDelete; each template is kept as a ControllerRevision (WorkloadHistory).
import API
import Client
import Foundation

final class DaemonSetController: Controller, InitialKeys, @unchecked Sendable {
    let name = "daemonset"
    let queue = WorkQueue()
    let workers = 4
    let daemonSets: Lister<DaemonSet>
    let pods: Lister<Pod>
    let nodes: Lister<Node>
    let history: WorkloadHistory
    let expectations = Expectations()
    let events: EventRecorder?
    let now: @Sendable () -> Date

    init(daemonSets: Lister<DaemonSet>, pods: Lister<Pod>, nodes: Lister<Node>, revisions: Lister<ControllerRevision>,
         events: EventRecorder?, now: @escaping @Sendable () -> Date = { Date() }) {
        self.daemonSets = daemonSets
        self.pods = pods
        self.nodes = nodes
        self.history = WorkloadHistory(revisions: revisions)
        self.events = events
        self.now = now
    }

    func watch(daemonSets dsInformer: Informer, pods podInformer: Informer, nodes nodeInformer: Informer) {
        dsInformer.onChange(DaemonSet.self) { [self] old, new in
            if new == nil, let old { expectations.forget(old.key) }
            queue.add((new ?? old)!.key)
        }
        podInformer.onChange(Pod.self) { [self] in podChanged(old: $0, new: $1) }
        // A node that comes, goes or changes labels, taints or readiness may change where daemons run.
        nodeInformer.onChange(Node.self) { [self] old, new in
            if old?.metadata.labels != new?.metadata.labels || old?.spec.json != new?.spec.json || old == nil || new == nil {
                for ds in daemonSets.list() { queue.add(ds.key) }
            }
        }
    }

    func podChanged(old: Pod?, new: Pod?) {
        if let key = expectations.observe(old: old, new: new, ownerKind: DaemonSet.kind) { queue.add(key) }
    }

    func initialKeys() -> [String] { daemonSets.list().map(\.key) }

    func sync(_ key: String, client: APIClient) throws { try sync(key, client: client as ObjectClient) }

    func sync(_ key: String, client: ObjectClient) throws {
        guard let ds = daemonSets.get(key), !ds.isBeingDeleted else { return }
        // Read before listing: a create seen after the list would otherwise be made twice.
        let expectationsMet = expectations.satisfied(key)
        let hash = try history.current(for: ds, template: ds.spec.template.json, client: client)
        let owned = pods.list(namespace: ds.namespace).filter { $0.controllerRef?.uid == ds.uid && !$0.isBeingDeleted }
        var byNode: [String: [Pod]] = [:]
        for pod in owned { byNode[DaemonPlacement.nodeName(of: pod) ?? "", default: []].append(pod) }
        let allNodes = nodes.list()
        var plan = Plan()
        for node in allNodes {
            let here = byNode.removeValue(forKey: node.name) ?? []
            let running = here.filter { $0.status.phase != .failed }
            plan.delete += here.filter { $0.status.phase == .failed }   // replaced on the next sync
            guard DaemonPlacement.shouldRun(ds.spec.template, on: node) else {
                plan.delete += running
                continue
            }
            plan.eligible.append((node.name, running))
            if running.isEmpty { plan.create.append(node.name) }
            // More than one daemon on a node (a surge finished, or a race): keep the newest template's.
            if running.count > 1, ds.spec.updateStrategy.type != .rollingUpdate || !surges(ds) {
                let keep = running.first { $0.metadata.labels?[AppsRules.revisionHashLabel] == hash } ?? running[0]
                plan.delete += running.filter { $0.uid != keep.uid }
            }
        }
        plan.delete += byNode.values.flatMap { $0 }   // on nodes that are gone
        if expectationsMet {
            if ds.spec.updateStrategy.type == .rollingUpdate { rollingUpdate(ds, hash: hash, plan: &plan) }
            try apply(plan, to: ds, hash: hash, client: client)
        }
        try writeStatus(ds, hash: hash, eligible: plan.eligible, misscheduled: owned.count - plan.eligible.reduce(0) { $0 + $1.pods.count }, client: client)
        try history.truncate(for: ds, keep: Int(ds.spec.revisionHistoryLimit ?? 10), live: Set(owned.compactMap { $0.metadata.labels?[AppsRules.revisionHashLabel] }), client: client)
    }

    struct Plan {
        var eligible: [(node: String, pods: [Pod])] = []
        var create: [String] = []
        var delete: [Pod] = []
    }

    /// Whether a rolling update may start new pods beside old ones (maxSurge above zero).
    func surges(_ ds: DaemonSet) -> Bool {
        switch ds.spec.updateStrategy.rollingUpdate.maxSurge {
        case .int(let n)?: return n > 0
        case .string(let s)?: return (IntOrString.string(s).scaled(total: 100, roundUp: true) ?? 0) > 0
        case nil: return false
        }
    }

    /// Replaces old pods: with maxSurge a new pod starts beside an available old one and the old one
    /// goes once the new one is available; otherwise up to maxUnavailable old pods go at a time.
    func rollingUpdate(_ ds: DaemonSet, hash: String, plan: inout Plan) {
        let desired = Int64(plan.eligible.count)
        let strategy = ds.spec.updateStrategy.rollingUpdate
        let surge = strategy.maxSurge?.scaled(total: desired, roundUp: true) ?? 0
        let maxUnavailable = strategy.maxUnavailable?.scaled(total: desired, roundUp: true) ?? 1
        let minReady = ds.spec.minReadySeconds ?? 0
        func available(_ p: Pod) -> Bool { p.isAvailable(minReadySeconds: minReady, now: now()) }
        func isNew(_ p: Pod) -> Bool { p.metadata.labels?[AppsRules.revisionHashLabel] == hash }
        let unavailableNodes = plan.eligible.filter { !$0.pods.contains(where: available) }.count
        var budget = max(0, Int(maxUnavailable) - unavailableNodes)
        var surgeBudget = Int(surge) - plan.eligible.filter { e in e.pods.contains(where: isNew) && e.pods.contains { !isNew($0) } }.count
        for (node, pods) in plan.eligible {
            let old = pods.filter { !isNew($0) }, new = pods.filter(isNew)
            guard !old.isEmpty else { continue }
            if surge > 0 {
                if new.contains(where: available) { plan.delete += old }
                else if new.isEmpty, old.contains(where: available), surgeBudget > 0 { plan.create.append(node); surgeBudget -= 1 }
                else if !old.contains(where: available) { plan.delete += old }   // nothing to keep up: replace now
            } else if !old.contains(where: available) {
                plan.delete += old   // already down: free to replace
            } else if budget > 0, new.isEmpty {
                plan.delete += old
                budget -= 1
            }
        }
    }

    func apply(_ plan: Plan, to ds: DaemonSet, hash: String, client: ObjectClient) throws {
        let victims = Array(Set(plan.delete.map(\.uid))).compactMap { uid in plan.delete.first { $0.uid == uid } }
        if !victims.isEmpty {
            expectations.expectDeletes(ds.key, pods: victims.map(\.key))
            for pod in victims {
                if !(try client.delete(pod)) { expectations.deleted(ds.key, pod: pod.key) }
                events?.object(ds, reason: "SuccessfulDelete", message: "Deleted pod: \(pod.name)")
            }
        }
        guard !plan.create.isEmpty else { return }
        expectations.expectCreates(ds.key, plan.create.count)
        // Doubling batches (1, 2, 4...) so a template the API refuses fails after one try, not hundreds.
        var remaining = plan.create[...], batch = 1
        while !remaining.isEmpty {
            for node in remaining.prefix(batch) {
                do {
                    let pod = try client.create(DaemonPlacement.pod(for: ds, node: node, hash: hash))
                    events?.object(ds, reason: "SuccessfulCreate", message: "Created pod: \(pod.name)")
                } catch {
                    expectations.created(ds.key, by: remaining.count)
                    events?.object(ds, type: "Warning", reason: "FailedCreate", message: "Error creating: \(error)")
                    throw error
                }
                remaining = remaining.dropFirst()
            }
            batch *= 2
        }
    }

    func writeStatus(_ ds: DaemonSet, hash: String, eligible: [(node: String, pods: [Pod])], misscheduled: Int, client: ObjectClient) throws {
        let minReady = ds.spec.minReadySeconds ?? 0
        var status = ds.status
        let scheduled = eligible.filter { !$0.pods.isEmpty }
        status.desiredNumberScheduled = Int64(eligible.count)
        status.currentNumberScheduled = Int64(scheduled.count)
        status.numberMisscheduled = Int64(misscheduled)
        status.numberReady = Int64(scheduled.filter { $0.pods.contains(where: \.isReady) }.count)
        let available = Int64(scheduled.filter { $0.pods.contains { $0.isAvailable(minReadySeconds: minReady, now: now()) } }.count)
        status.numberAvailable = available
        status.numberUnavailable = Int64(eligible.count) - available
        status.updatedNumberScheduled = Int64(scheduled.filter { $0.pods.contains { $0.metadata.labels?[AppsRules.revisionHashLabel] == hash } }.count)
        status.observedGeneration = ds.metadata.generation
        if minReady > 0, scheduled.contains(where: { $0.pods.contains { $0.isReady && !$0.isAvailable(minReadySeconds: minReady, now: now()) } }) {
            queue.addAfter(ds.key, Double(minReady) + 0.1)
        }
        guard status.json != ds.status.json else { return }
        var updated = ds
        updated.status = status
        _ = try client.updateStatus(updated)
    }
}

extension Pod {
    /// Ready for at least minReadySeconds.
    func isAvailable(minReadySeconds: Int64, now: Date) -> Bool {
        guard let ready = status.conditions.first(where: { $0.type == "Ready" && $0.status == .true }) else { return false }
        guard minReadySeconds > 0 else { return true }
        guard let since = ready.lastTransitionTime else { return false }
        return now.timeIntervalSince(since) >= Double(minReadySeconds)
    }
}
