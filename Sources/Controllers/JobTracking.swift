// What a Job's pods add up to: which are active, which finished and still need counting, how
// many succeeded and failed, which indexes are done, and whether the Job has failed or is
// complete. Counting goes through status.uncountedTerminatedPods so a pod is counted exactly
// once even when it is deleted right after finishing or the controller restarts mid-way.
import API
import Client
import Foundation

struct JobTracking {
    struct Failure { var reason: String; var message: String }

    var job: Job
    var status: JobStatus
    var active: [Pod]
    let owned: [Pod]
    let deletedByUs: UIDSet
    let releasing: UIDSet
    let now: Date
    /// Finished pods holding the finalizer: to record in status, then release.
    private var finishedHolding: [Pod] = []
    private var policyFailure: Failure?

    init(job: Job, pods: [Pod], deletedByUs: UIDSet, releasing: UIDSet, now: Date) {
        self.job = job
        self.status = job.status
        self.owned = pods
        self.deletedByUs = deletedByUs
        self.releasing = releasing
        self.now = now
        active = pods.filter { !$0.isTerminal && !$0.isBeingDeleted }
    }

    var isFinished: Bool {
        job.status.conditions.contains { ($0.type == .complete || $0.type == .failed) && $0.status == .true }
    }

    var isIndexed: Bool { job.spec.completionMode == .indexed }

    static func holdsFinalizer(_ pod: Pod) -> Bool { (pod.metadata.finalizers ?? []).contains(JobController.trackingFinalizer) }

    static func index(of pod: Pod) -> Int? {
        pod.metadata.annotations?[BatchRules.completionIndexAnnotation].flatMap { Int($0) }
    }

    /// Finished (or deleted) pods still holding the finalizer go into uncountedTerminatedPods
    /// (succeeded indexes straight into completedIndexes); podFailurePolicy decides what a failure means.
    mutating func countFinishedPods() {
        var uncounted = status.uncountedTerminatedPods
        var succeeded = Set(uncounted.succeeded ?? []), failed = Set(uncounted.failed ?? [])
        var indexes = CompletedIndexes(status.completedIndexes ?? "")
        let completions = Int(job.spec.completions ?? 0)
        for pod in owned where Self.holdsFinalizer(pod) && (pod.isTerminal || pod.isBeingDeleted) {
            if releasing.contains(pod.uid) { continue }   // counted already; its release is on the way
            finishedHolding.append(pod)
            if succeeded.contains(pod.uid) || failed.contains(pod.uid) { continue }
            if pod.status.phase == .succeeded {
                if isIndexed {
                    if let i = Self.index(of: pod), i < completions { indexes.insert(i) }
                } else {
                    succeeded.insert(pod.uid)
                }
                continue
            }
            if deletedByUs.contains(pod.uid) { continue }   // removed on purpose: not a failure
            switch matchFailurePolicy(pod) {
            case .ignore?: continue
            case .failJob?: failed.insert(pod.uid)
            default: failed.insert(pod.uid)
            }
        }
        uncounted.succeeded = succeeded.isEmpty ? nil : succeeded.sorted()   // empty lists are omitted
        uncounted.failed = failed.isEmpty ? nil : failed.sorted()
        status.uncountedTerminatedPods = uncounted
        if isIndexed {
            status.completedIndexes = indexes.count > 0 ? indexes.description : nil
            status.succeeded = indexes.count > 0 ? Int64(indexes.count) : nil
        }
    }

    /// Makes the uncounted uids durable, releases the pods, then moves the uids into the counters.
    mutating func recordUncounted(client: ObjectClient) throws {
        if status.json != job.status.json {
            var updated = job
            updated.status = status
            job = try client.updateStatus(updated)
        }
        var released = Set<String>()
        for pod in finishedHolding {
            releasing.insert(pod.uid)
            do {
                try Self.removeFinalizer(pod, client: client)
            } catch {
                releasing.remove(pod.uid)
                throw error
            }
            released.insert(pod.uid)
        }
        let present = Dictionary(owned.map { ($0.uid, $0) }, uniquingKeysWith: { a, _ in a })
        func countable(_ uid: String) -> Bool {
            guard let pod = present[uid] else { return true }
            return released.contains(uid) || !Self.holdsFinalizer(pod)
        }
        var uncounted = status.uncountedTerminatedPods
        let s = uncounted.succeeded ?? [], f = uncounted.failed ?? []
        let succeeded = isIndexed ? (status.succeeded ?? 0) : (status.succeeded ?? 0) + Int64(s.filter(countable).count)
        let failed = (status.failed ?? 0) + Int64(f.filter(countable).count)
        status.succeeded = succeeded > 0 ? succeeded : nil   // zero counters are omitted, as Kubernetes writes them
        status.failed = failed > 0 ? failed : nil
        let stillSucceeded = s.filter { !countable($0) }, stillFailed = f.filter { !countable($0) }
        uncounted.succeeded = stillSucceeded.isEmpty ? nil : stillSucceeded
        uncounted.failed = stillFailed.isEmpty ? nil : stillFailed
        status.uncountedTerminatedPods = uncounted
    }

    /// Releases every pod (the Job is finished or being deleted).
    func releaseAll(client: ObjectClient) throws {
        for pod in owned where Self.holdsFinalizer(pod) { try Self.removeFinalizer(pod, client: client) }
    }

    static func removeFinalizer(_ pod: Pod, client: ObjectClient) throws {
        let patch: JSONValue = ["metadata": ["$deleteFromPrimitiveList/finalizers": [.string(JobController.trackingFinalizer)]]]
        do {
            _ = try client.patch(Pod.self, namespace: pod.namespace, name: pod.name, patch, .strategic)
        } catch let e as APIStatusError where e.isNotFound {}
    }

    var succeededTotal: Int64 { (status.succeeded ?? 0) + Int64(status.uncountedTerminatedPods.succeeded?.count ?? 0) }
    var failedTotal: Int64 { (status.failed ?? 0) + Int64(status.uncountedTerminatedPods.failed?.count ?? 0) }

    /// With restartPolicy OnFailure, container restarts count against backoffLimit too.
    var restarts: Int64 {
        guard job.spec.template.spec.restartPolicy == .onFailure else { return 0 }
        return active.reduce(0) { total, pod in total + pod.status.containerStatuses.reduce(0) { $0 + ($1.restartCount ?? 0) } }
    }

    /// When a failed pod was last seen finishing (back-off counts from there).
    var lastFailureTime: Date? {
        owned.filter { $0.status.phase == .failed }.compactMap { pod in
            pod.status.containerStatuses.compactMap { $0.state.terminated.finishedAt }.max() ?? pod.metadata.deletionTimestamp
        }.max()
    }

    /// Why the Job fails now, if it does.
    func failure(startTime: Date?) -> Failure? {
        if let policyFailure { return policyFailure }
        if failedTotal + restarts > (job.spec.backoffLimit ?? 6) {
            return Failure(reason: "BackoffLimitExceeded", message: "Job has reached the specified backoff limit")
        }
        if let deadline = job.spec.activeDeadlineSeconds, let startTime, now.timeIntervalSince(startTime) >= Double(deadline) {
            return Failure(reason: "DeadlineExceeded", message: "Job was active longer than specified deadline")
        }
        return nil
    }

    var isComplete: Bool {
        if isIndexed { return Int64(CompletedIndexes(status.completedIndexes ?? "").count) >= (job.spec.completions ?? 0) }
        if let completions = job.spec.completions { return succeededTotal >= completions }
        return succeededTotal >= 1 && active.isEmpty
    }

    /// NonIndexed: how many pods should run now.
    func wantedActive(parallelism: Int) -> Int {
        guard let completions = job.spec.completions else { return succeededTotal > 0 ? active.count : parallelism }
        return max(0, min(parallelism, Int(completions - succeededTotal)))
    }

    /// Indexed: the indexes nobody works on (lowest first) and active pods that are not needed.
    func indexPlan() -> (missing: [Int?], duplicates: [Pod]) {
        let completions = Int(job.spec.completions ?? 0)
        let done = CompletedIndexes(status.completedIndexes ?? "")
        var running = Set<Int>(), duplicates: [Pod] = []
        for pod in active.sorted(by: { ($0.metadata.creationTimestamp ?? .distantPast) < ($1.metadata.creationTimestamp ?? .distantPast) }) {
            guard let i = Self.index(of: pod), i < completions, !done.contains(i), !running.contains(i) else {
                duplicates.append(pod)
                continue
            }
            running.insert(i)
        }
        let missing = (0..<completions).filter { !done.contains($0) && !running.contains($0) }
        return (missing.map { Optional($0) }, duplicates)
    }

    /// The first podFailurePolicy rule matching a failed pod (FailJob records why the Job fails).
    mutating func matchFailurePolicy(_ pod: Pod) -> PodFailurePolicyAction? {
        for (i, rule) in job.spec.podFailurePolicy.rules.enumerated() {
            var why: String?
            if rule.onExitCodes.op != nil {   // onExitCodes given (its operator is required)
                let req = rule.onExitCodes, values = Set(req.values ?? [])
                let statuses = pod.status.initContainerStatuses + pod.status.containerStatuses
                for c in statuses where req.containerName == nil || req.containerName == c.name {
                    guard let code = c.state.terminated.exitCode, code != 0 else { continue }
                    if (req.op == .in) == values.contains(code) {
                        why = "Container \(c.name ?? "") for pod \(pod.namespace)/\(pod.name) failed with exit code \(code)"
                        break
                    }
                }
            } else {
                for pattern in rule.onPodConditions {
                    if pod.status.conditions.contains(where: { $0.type == pattern.type && $0.status == (pattern.status ?? .true) }) {
                        why = "Pod \(pod.namespace)/\(pod.name) has condition \(pattern.type ?? "") matching"
                        break
                    }
                }
            }
            guard let why, let action = rule.action else { continue }
            if action == .failJob, policyFailure == nil {
                let matching = rule.onExitCodes.op != nil ? " matching" : ""
                policyFailure = Failure(reason: "PodFailurePolicy", message: "\(why)\(matching) FailJob rule at index \(i)")
            }
            return action
        }
        return nil
    }
}

/// status.completedIndexes: "1,3-5,7" as a set of indexes.
struct CompletedIndexes: CustomStringConvertible {
    private(set) var indexes = Set<Int>()

    init(_ text: String) {
        for part in text.split(separator: ",") {
            let bounds = part.split(separator: "-").compactMap { Int($0) }
            if bounds.count == 2, bounds[0] <= bounds[1] { indexes.formUnion(bounds[0]...bounds[1]) } else if bounds.count == 1 { indexes.insert(bounds[0]) }
        }
    }

    var count: Int { indexes.count }
    func contains(_ i: Int) -> Bool { indexes.contains(i) }
    mutating func insert(_ i: Int) { indexes.insert(i) }

    var description: String {
        var ranges: [String] = []
        var sorted = indexes.sorted()[...]
        while let first = sorted.first {
            var last = first
            sorted = sorted.dropFirst()
            while sorted.first == last + 1 { last += 1; sorted = sorted.dropFirst() }
            ranges.append(first == last ? "\(first)" : "\(first)-\(last)")
        }
        return ranges.joined(separator: ",")
    }
}
