// apps/v1 StatefulSets: pods `<set>-<ordinal>` with hostname = pod name and subdomain = the
// governing Service (so `web-0.web.ns.svc.cluster.local` resolves), one PersistentVolumeClaim
// `<claim>-<set>-<ordinal>` per volumeClaimTemplate that outlives its pod (and a scale-down, unless
// the retention policy says Delete). OrderedReady creates in ordinal order, each after the one
// before is Ready, and removes from the highest; Parallel does all at once. RollingUpdate replaces
// pods from the highest ordinal down to the partition, one at a time; OnDelete waits for the user.
import API
import Client
import Foundation

final class StatefulSetController: Controller, InitialKeys, @unchecked Sendable {
    let name = "statefulset"
    let queue = WorkQueue()
    let workers = 4
    let statefulSets: Lister<StatefulSet>
    let pods: Lister<Pod>
    let claims: Lister<PersistentVolumeClaim>
    let history: WorkloadHistory
    let events: EventRecorder?
    let now: @Sendable () -> Date

    init(statefulSets: Lister<StatefulSet>, pods: Lister<Pod>, claims: Lister<PersistentVolumeClaim>, revisions: Lister<ControllerRevision>,
         events: EventRecorder?, now: @escaping @Sendable () -> Date = { Date() }) {
        self.statefulSets = statefulSets
        self.pods = pods
        self.claims = claims
        self.history = WorkloadHistory(revisions: revisions)
        self.events = events
        self.now = now
    }

    func watch(statefulSets stsInformer: Informer, pods podInformer: Informer) {
        stsInformer.onChange(StatefulSet.self) { [self] old, new in queue.add((new ?? old)!.key) }
        podInformer.onChange(Pod.self) { [self] old, new in
            let pod = (new ?? old)!
            guard let ref = pod.controllerRef, ref.kind == StatefulSet.kind, let owner = ref.name else { return }
            queue.add(pod.namespace + "/" + owner)
        }
    }

    func initialKeys() -> [String] { statefulSets.list().map(\.key) }

    /// The ordinal in a pod's name `<set>-<ordinal>`, if it is one of the set's.
    static func ordinal(of pod: Pod, in set: StatefulSet) -> Int? {
        let prefix = set.name + "-"
        guard pod.name.hasPrefix(prefix) else { return nil }
        return Int(pod.name.dropFirst(prefix.count))
    }

    static func revision(of pod: Pod) -> String { pod.metadata.labels?[AppsRules.revisionHashLabel] ?? "" }

    func sync(_ key: String, client: APIClient) throws { try sync(key, client: client as ObjectClient) }

    func sync(_ key: String, client: ObjectClient) throws {
        guard let set = statefulSets.get(key), !set.isBeingDeleted else { return }
        let update = try history.current(for: set, template: set.spec.template.json, client: client)
        let current = set.status.currentRevision.flatMap { name in name.hasPrefix(set.name + "-") ? String(name.dropFirst(set.name.count + 1)) : nil } ?? update
        let templates = revisionTemplates(set, current: current, update: update)
        var byOrdinal: [Int: Pod] = [:], strays: [Pod] = []
        for pod in pods.list(namespace: set.namespace) where pod.controllerRef?.uid == set.uid {
            if let i = Self.ordinal(of: pod, in: set) { byOrdinal[i] = pod } else { strays.append(pod) }
        }
        let start = Int(set.spec.ordinals.start ?? 0), replicas = Int(set.spec.replicas ?? 1)
        let wanted = start..<(start + replicas)
        let ordered = set.spec.podManagementPolicy != .parallel
        let minReady = set.spec.minReadySeconds ?? 0
        func healthy(_ p: Pod) -> Bool { !p.isBeingDeleted && p.isAvailable(minReadySeconds: minReady, now: now()) }
        var blocked = false

        for i in wanted {
            guard let pod = byOrdinal[i] else {
                let partition = Int(set.spec.updateStrategy.rollingUpdate.partition ?? 0)
                let revision = set.spec.updateStrategy.type == .rollingUpdate && i < partition ? current : update
                try create(set, ordinal: i, revision: revision, template: templates[revision] ?? set.spec.template, client: client)
                if ordered { blocked = true; break }
                continue
            }
            if pod.status.phase == .failed || pod.status.phase == .succeeded {
                try delete(pod, of: set, client: client)   // recreated under the same name next time
                if ordered { blocked = true; break }
                continue
            }
            if ordered && !healthy(pod) { blocked = true; break }
        }
        // Scale down: highest ordinal first, one at a time while ordered (and only once all is well).
        let condemned = byOrdinal.filter { !wanted.contains($0.key) }.sorted { $0.key > $1.key }.map(\.value) + strays
        if !condemned.isEmpty && !(ordered && blocked) {
            for pod in ordered ? Array(condemned.prefix(1)) : condemned where !pod.isBeingDeleted {
                try delete(pod, of: set, client: client)
                if set.spec.persistentVolumeClaimRetentionPolicy.whenScaled == "Delete", let i = Self.ordinal(of: pod, in: set) {
                    for claim in set.spec.volumeClaimTemplates {
                        try client.delete(PersistentVolumeClaim.self, namespace: set.namespace, name: Self.claimName(claim, set, i), propagation: nil, preconditionUID: nil)
                    }
                }
            }
            blocked = ordered
        }
        // Rolling update: the highest ordinal at or above the partition still on an old revision.
        if set.spec.updateStrategy.type == .rollingUpdate, !blocked, wanted.allSatisfy({ byOrdinal[$0].map(healthy) ?? false }) {
            let partition = Int(set.spec.updateStrategy.rollingUpdate.partition ?? 0)
            if let stale = wanted.reversed().first(where: { $0 >= partition && Self.revision(of: byOrdinal[$0]!) != update }) {
                try delete(byOrdinal[stale]!, of: set, client: client)
            }
        }
        try writeStatus(set, pods: wanted.compactMap { byOrdinal[$0] }, current: current, update: update, client: client)
        let live = Set(byOrdinal.values.map(Self.revision)).union([current, update])
        try history.truncate(for: set, keep: Int(set.spec.revisionHistoryLimit ?? 10), live: live, client: client)
    }

    /// The pod templates of the current and update revisions (the current one from its ControllerRevision).
    func revisionTemplates(_ set: StatefulSet, current: String, update: String) -> [String: PodTemplateSpec] {
        var out = [update: set.spec.template]
        if current != update, let saved = history.owned(by: set).first(where: { $0.name == set.name + "-" + current }),
           let template = saved.data.map({ StatefulSet(json: $0).spec.template }) {
            var t = template
            t.json.put("$patch", nil)
            out[current] = t
        }
        return out
    }

    static func claimName(_ claim: PersistentVolumeClaim, _ set: StatefulSet, _ ordinal: Int) -> String {
        "\(claim.metadata.name ?? "")-\(set.name)-\(ordinal)"
    }

    /// The pod for one ordinal: stable name, hostname and subdomain, its claims as volumes.
    static func pod(for set: StatefulSet, ordinal: Int, revision: String, template: PodTemplateSpec) -> Pod {
        let name = "\(set.name)-\(ordinal)"
        var pod = Pod.new(namespace: set.namespace, name: name)
        pod.spec = template.spec
        var labels = template.metadata.labels ?? [:]
        labels[AppsRules.revisionHashLabel] = revision
        labels[AppsRules.podNameLabel] = name
        labels[AppsRules.podIndexLabel] = String(ordinal)
        pod.metadata.labels = labels
        pod.metadata.annotations = template.metadata.annotations
        pod.metadata.ownerReferences = [set.ownerReference()]
        pod.spec.hostname = name
        if let service = set.spec.serviceName, !service.isEmpty { pod.spec.subdomain = service }
        var volumes = pod.spec.volumes.filter { v in !set.spec.volumeClaimTemplates.contains { $0.metadata.name == v.name } }
        for claim in set.spec.volumeClaimTemplates {
            var v = Volume()
            v.name = claim.metadata.name
            v.persistentVolumeClaim.claimName = claimName(claim, set, ordinal)
            volumes.append(v)
        }
        pod.spec.volumes = volumes
        return pod
    }

    func create(_ set: StatefulSet, ordinal: Int, revision: String, template: PodTemplateSpec, client: ObjectClient) throws {
        let pod = Self.pod(for: set, ordinal: ordinal, revision: revision, template: template)
        for template in set.spec.volumeClaimTemplates {
            let name = Self.claimName(template, set, ordinal)
            guard claims.get(set.namespace + "/" + name) == nil else { continue }
            var claim = PersistentVolumeClaim.new(namespace: set.namespace, name: name)
            claim.spec = template.spec
            claim.metadata.labels = (template.metadata.labels ?? [:]).merging(set.spec.selector.matchLabels ?? [:]) { a, _ in a }
            if set.spec.persistentVolumeClaimRetentionPolicy.whenDeleted == "Delete" { claim.metadata.ownerReferences = [set.ownerReference()] }
            do {
                _ = try client.create(claim)
                events?.object(set, reason: "SuccessfulCreate", message: "create Claim \(name) Pod \(pod.name) in StatefulSet \(set.name) success")
            } catch let e as APIStatusError where e.code == 409 {}
        }
        do {
            _ = try client.create(pod)
            events?.object(set, reason: "SuccessfulCreate", message: "create Pod \(pod.name) in StatefulSet \(set.name) successful")
        } catch let e as APIStatusError where e.code == 409 {   // the informer has not shown it yet
        } catch {
            events?.object(set, type: "Warning", reason: "FailedCreate", message: "create Pod \(pod.name) in StatefulSet \(set.name) failed error: \(error)")
            throw error
        }
    }

    func delete(_ pod: Pod, of set: StatefulSet, client: ObjectClient) throws {
        guard !pod.isBeingDeleted else { return }
        try client.delete(pod)
        events?.object(set, reason: "SuccessfulDelete", message: "delete Pod \(pod.name) in StatefulSet \(set.name) successful")
    }

    func writeStatus(_ set: StatefulSet, pods: [Pod], current: String, update: String, client: ObjectClient) throws {
        let minReady = set.spec.minReadySeconds ?? 0
        let alive = pods.filter { !$0.isTerminal }
        var status = set.status
        status.observedGeneration = set.metadata.generation
        status.replicas = Int64(alive.count)
        status.readyReplicas = Int64(alive.filter(\.isReady).count)
        status.availableReplicas = Int64(alive.filter { $0.isAvailable(minReadySeconds: minReady, now: now()) }.count)
        status.updatedReplicas = Int64(alive.filter { Self.revision(of: $0) == update }.count)
        // The update is complete when every replica runs it: it becomes the current revision.
        let replicas = Int64(set.spec.replicas ?? 1)
        let done = status.updatedReplicas == replicas && status.readyReplicas == replicas
        let currentNow = done ? update : current
        status.currentReplicas = Int64(alive.filter { Self.revision(of: $0) == currentNow }.count)
        status.currentRevision = set.name + "-" + currentNow
        status.updateRevision = set.name + "-" + update
        if status.collisionCount == nil { status.collisionCount = 0 }
        guard status.json != set.status.json else { return }
        var updated = set
        updated.status = status
        _ = try client.updateStatus(updated)
    }
}
