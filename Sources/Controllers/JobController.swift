// batch/v1 Jobs: pods are created up to parallelism until completions succeed (per index for
// Indexed Jobs), failures back off exponentially (10 s doubling to 6 min) and fail the Job past
// backoffLimit, activeDeadlineSeconds and the podFailurePolicy can fail it sooner, and suspend
// deletes the running pods. Pods carry the batch.kubernetes.io/job-tracking finalizer so none is
// counted twice or lost: a finished pod's uid goes into status.uncountedTerminatedPods first,
// then its finalizer comes off, then it moves into succeeded/failed (JobTracking.swift).
import API
import Client
import Foundation

final class JobController: Controller, InitialKeys, @unchecked Sendable {
    static let trackingFinalizer = "batch.kubernetes.io/job-tracking"
    let name = "job"
    let queue = WorkQueue()
    let workers = 4
    let jobs: Lister<Job>
    let pods: Lister<Pod>
    let expectations = Expectations()
    let backoff = JobBackoff()
    let events: EventRecorder?
    let now: @Sendable () -> Date
    /// Pods this controller deleted itself (excess, suspended, finished Job): not failures.
    /// Kept until the pod is gone, so a stale copy still holding the finalizer isn't one either.
    let deletedByUs = UIDSet()
    /// Pods whose finalizer this controller removed and the informer hasn't shown without it yet
    /// (client-go's finalizer expectations): their stale copies are not counted a second time.
    let releasing = UIDSet()

    init(jobs: Lister<Job>, pods: Lister<Pod>, events: EventRecorder?, now: @escaping @Sendable () -> Date = { Date() }) {
        self.jobs = jobs
        self.pods = pods
        self.events = events
        self.now = now
    }

    /// Wires the informers to the queue (unit tests wire a FakeObjectClient's changes instead).
    func watch(jobs jobInformer: Informer, pods podInformer: Informer) {
        jobInformer.onChange(Job.self) { [self] in jobChanged(old: $0, new: $1) }
        podInformer.onChange(Pod.self) { [self] in podChanged(old: $0, new: $1) }
    }

    func jobChanged(old: Job?, new: Job?) {
        guard let job = new ?? old else { return }
        if new == nil { expectations.forget(job.key) }
        queue.add(job.key)
    }

    /// A pod of a Job appeared, changed or went: the creates and deletes we wait for, and the Job to sync.
    func podChanged(old: Pod?, new: Pod?) {
        if let pod = new ?? old, new == nil || !JobTracking.holdsFinalizer(pod) {
            releasing.remove(pod.uid)
            if new == nil { deletedByUs.remove(pod.uid) }
        }
        if let key = expectations.observe(old: old, new: new, ownerKind: Job.kind) { queue.add(key) }
    }

    func initialKeys() -> [String] { jobs.list().map(\.key) }

    func sync(_ key: String, client: APIClient) throws { try sync(key, client: client as ObjectClient) }

    func sync(_ key: String, client: ObjectClient) throws {
        guard let job = jobs.get(key) else {
            expectations.forget(key)
            backoff.forget(key)
            return
        }
        // Read before listing: a create seen after the list (while this sync counts and releases
        // finished pods) would otherwise be made twice, and the extra pod deleted as excess.
        let expectationsMet = expectations.satisfied(key)
        let owned = pods.list(namespace: job.namespace).filter { $0.controllerRef?.uid == job.uid }
        var tracking = JobTracking(job: job, pods: owned, deletedByUs: deletedByUs, releasing: releasing, now: now())
        if job.isBeingDeleted || tracking.isFinished {
            // Nothing more to run: let every pod go (the garbage collector deletes them).
            try tracking.releaseAll(client: client)
            return
        }
        tracking.countFinishedPods()
        try tracking.recordUncounted(client: client)   // uids into status, then finalizers off, then counted
        var status = tracking.status

        let spec = job.spec
        if spec.suspend == true {
            try delete(tracking.active, of: job, client: client)
            setCondition(&status, .suspended, true, reason: "JobSuspended", message: "Job suspended")
            status.startTime = nil
        } else {
            if status.conditions.contains(where: { $0.type == .suspended && $0.status == .true }) {
                setCondition(&status, .suspended, false, reason: "JobResumed", message: "Job resumed")
            }
            if status.startTime == nil { status.startTime = now() }
            if let failure = tracking.failure(startTime: status.startTime) {
                try delete(tracking.active, of: job, client: client)
                setCondition(&status, .failureTarget, true, reason: failure.reason, message: failure.message)
                setCondition(&status, .failed, true, reason: failure.reason, message: failure.message)
                events?.object(job, type: "Warning", reason: failure.reason, message: failure.message)
            } else if tracking.isComplete {
                try delete(tracking.active, of: job, client: client)
                setCondition(&status, .successCriteriaMet, true, reason: "CompletionsReached", message: "Reached expected number of succeeded pods")
                setCondition(&status, .complete, true, reason: "CompletionsReached", message: "Reached expected number of succeeded pods")
                status.completionTime = now()
                events?.object(job, reason: "Completed", message: "Job completed")
            } else if expectationsMet {
                try manageActive(job, &tracking, client: client)
            }
            if let deadline = spec.activeDeadlineSeconds, let start = status.startTime, !tracking.isFinished {
                queue.addAfter(key, max(0.05, start.addingTimeInterval(Double(deadline)).timeIntervalSince(now())))
            }
        }
        status.active = tracking.active.isEmpty ? nil : Int64(tracking.active.count)
        status.ready = Int64(tracking.active.filter(\.isReady).count)
        if status.json != tracking.job.status.json {
            var updated = tracking.job
            updated.status = status
            _ = try client.updateStatus(updated)
        }
    }

    /// Creates or deletes pods so that as many run as the Job wants now.
    func manageActive(_ job: Job, _ tracking: inout JobTracking, client: ObjectClient) throws {
        let parallelism = Int(job.spec.parallelism ?? 1)
        if job.spec.completionMode == .indexed {
            let (missing, duplicates) = tracking.indexPlan()
            try delete(duplicates, of: job, client: client)
            let room = max(0, parallelism - (tracking.active.count - duplicates.count))
            try create(Array(missing.prefix(room)), of: job, tracking: &tracking, client: client)
            return
        }
        let wanted = tracking.wantedActive(parallelism: parallelism)
        let diff = wanted - tracking.active.count
        if diff > 0 {
            try create(Array(repeating: nil, count: diff), of: job, tracking: &tracking, client: client)
        } else if diff < 0 {
            let victims = tracking.active.sorted { ($0.status.phase == .running ? 1 : 0) < ($1.status.phase == .running ? 1 : 0) }
            try delete(Array(victims.prefix(-diff)), of: job, client: client)
        }
    }

    /// Creates one pod per entry (an index for Indexed Jobs), unless failures call for waiting.
    func create(_ indexes: [Int?], of job: Job, tracking: inout JobTracking, client: ObjectClient) throws {
        guard !indexes.isEmpty else { return }
        if let wait = backoff.remaining(job.key, failures: tracking.failedTotal, lastFailure: tracking.lastFailureTime, now: now()), wait > 0 {
            queue.addAfter(job.key, wait)
            return
        }
        expectations.expectCreates(job.key, indexes.count)
        for (n, index) in indexes.enumerated() {
            do {
                let pod = try client.create(Self.pod(for: job, index: index))
                tracking.active.append(pod)
                events?.object(job, reason: "SuccessfulCreate", message: "Created pod: \(pod.name)")
            } catch {
                expectations.created(job.key, by: indexes.count - n)
                events?.object(job, type: "Warning", reason: "FailedCreate", message: "Error creating: \(error)")
                throw error
            }
        }
    }

    func delete(_ victims: [Pod], of job: Job, client: ObjectClient) throws {
        let alive = victims.filter { !$0.isBeingDeleted }
        guard !alive.isEmpty else { return }
        expectations.expectDeletes(job.key, pods: alive.map(\.key))
        for pod in alive {
            deletedByUs.insert(pod.uid)
            if try client.delete(pod) {
                events?.object(job, reason: "SuccessfulDelete", message: "Deleted pod: \(pod.name)")
            } else {
                expectations.deleted(job.key, pod: pod.key)
            }
        }
    }

    /// The pod a Job's template stamps out (Indexed: with its index in an annotation, a label,
    /// JOB_COMPLETION_INDEX and the hostname `<job>-<index>`).
    static func pod(for job: Job, index: Int?) -> Pod {
        var pod = Pod.new(namespace: job.namespace)
        let template = job.spec.template
        pod.spec = template.spec
        pod.metadata.labels = template.metadata.labels
        pod.metadata.annotations = template.metadata.annotations
        pod.metadata.generateName = job.name + "-" + (index.map { "\($0)-" } ?? "")
        pod.metadata.ownerReferences = [job.ownerReference()]
        pod.metadata.finalizers = [trackingFinalizer]
        if let index {
            pod.metadata.annotations = (pod.metadata.annotations ?? [:]).merging([BatchRules.completionIndexAnnotation: String(index)]) { $1 }
            pod.metadata.labels = (pod.metadata.labels ?? [:]).merging([BatchRules.completionIndexAnnotation: String(index)]) { $1 }
            if pod.spec.hostname == nil { pod.spec.hostname = "\(job.name)-\(index)" }
            var env = EnvVar()
            env.name = "JOB_COMPLETION_INDEX"
            env.valueFrom = ["fieldRef": ["fieldPath": .string("metadata.annotations['\(BatchRules.completionIndexAnnotation)']")]]
            pod.spec.containers = pod.spec.containers.map { c in
                var c = c
                if !c.env.contains(where: { $0.name == env.name }) { c.env.append(env) }
                return c
            }
        }
        return pod
    }
}

/// Sets a condition (lastTransitionTime moves only when its status changes); a false one is
/// only written over an existing condition.
func setCondition(_ status: inout JobStatus, _ type: JobConditionType, _ on: Bool, reason: String, message: String, now: Date = Date()) {
    guard on || status.conditions.contains(where: { $0.type == type }) else { return }
    let i = status.conditions.set(type, on ? .true : .false, reason: reason, message: message, now: now)
    status.conditions[i].lastProbeTime = now
}

/// The exponential back-off before replacing failed pods: 10 s after the first failure,
/// doubling, at most 6 min, counted from the last failure.
final class JobBackoff: @unchecked Sendable {
    private let lock = NSLock()
    private var seenFailures: [String: (count: Int64, at: Date)] = [:]

    func remaining(_ key: String, failures: Int64, lastFailure: Date?, now: Date) -> Double? {
        guard failures > 0 else { return nil }
        lock.lock()
        defer { lock.unlock() }
        var record = seenFailures[key] ?? (0, lastFailure ?? now)
        if failures > record.count { record = (failures, lastFailure ?? now) }
        seenFailures[key] = record
        let delay = min(10 * pow(2, Double(min(failures, 16) - 1)), 360)
        return record.at.addingTimeInterval(delay).timeIntervalSince(now)
    }

    func forget(_ key: String) { lock.lock(); seenFailures[key] = nil; lock.unlock() }
}

/// A set of uids shared between syncs.
final class UIDSet: @unchecked Sendable {
    private let lock = NSLock()
    private var uids = Set<String>()
    func insert(_ uid: String) { lock.lock(); uids.insert(uid); lock.unlock() }
    func contains(_ uid: String) -> Bool { lock.lock(); defer { lock.unlock() }; return uids.contains(uid) }
    func remove(_ uid: String) { lock.lock(); uids.remove(uid); lock.unlock() }
}
