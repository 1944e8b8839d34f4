// batch/v1 CronJobs: a Job at each scheduled time (in spec.timeZone, UTC otherwise), named
// `<cronjob>-<minutes since the epoch>` so a time is never run twice. After downtime only the
// most recent missed time runs (never a storm), and not at all once startingDeadlineSeconds has
// passed; concurrencyPolicy Forbid skips a time while a Job runs and Replace deletes the running
// one; finished Jobs beyond the history limits are deleted, oldest first.
import API
import Client
import Foundation

final class CronJobController: Controller, InitialKeys, @unchecked Sendable {
    let name = "cronjob"
    let queue = WorkQueue()
    let workers = 4
    let cronJobs: Lister<CronJob>
    let jobs: Lister<Job>
    let events: EventRecorder?
    let now: @Sendable () -> Date

    init(cronJobs: Lister<CronJob>, jobs: Lister<Job>, events: EventRecorder?, now: @escaping @Sendable () -> Date = { Date() }) {
        self.cronJobs = cronJobs
        self.jobs = jobs
        self.events = events
        self.now = now
    }

    func watch(cronJobs cronJobInformer: Informer, jobs jobInformer: Informer) {
        cronJobInformer.onChange(CronJob.self) { [self] old, new in queue.add((new ?? old)!.key) }
        jobInformer.onChange(Job.self) { [self] in jobChanged(old: $0, new: $1) }
    }

    func jobChanged(old: Job?, new: Job?) {
        guard let job = new ?? old, let ref = job.controllerRef, ref.kind == CronJob.kind, let owner = ref.name else { return }
        queue.add(job.namespace + "/" + owner)
    }

    func initialKeys() -> [String] { cronJobs.list().map(\.key) }

    static func isFinished(_ job: Job) -> JobConditionType? {
        job.status.conditions.first { ($0.type == .complete || $0.type == .failed) && $0.status == .true }?.type
    }

    /// Jobs are named after the scheduled minute.
    static func jobName(_ cronJob: CronJob, scheduled: Date) -> String {
        "\(cronJob.name)-\(Int64(scheduled.timeIntervalSince1970) / 60)"
    }

    func sync(_ key: String, client: APIClient) throws { try sync(key, client: client as ObjectClient) }

    func sync(_ key: String, client: ObjectClient) throws {
        guard let cronJob = cronJobs.get(key) else { return }
        let owned = jobs.list(namespace: cronJob.namespace).filter { $0.controllerRef?.uid == cronJob.uid }
        var status = cronJob.status
        reconcileActive(cronJob, owned: owned, status: &status)
        var failure: Error?
        do {
            try cleanUpHistory(cronJob, owned: owned, client: client)
            try runDue(cronJob, owned: owned, status: &status, client: client)
        } catch {
            failure = error
        }
        try writeStatus(cronJob, status, client: client)   // what did happen is recorded either way
        if let failure { throw failure }
    }

    /// Starts the Job for the most recent due time, if it should run; schedules the next look.
    func runDue(_ cronJob: CronJob, owned: [Job], status: inout CronJobStatus, client: ObjectClient) throws {
        let key = cronJob.key
        guard !cronJob.isBeingDeleted, cronJob.spec.suspend != true,
              let text = cronJob.spec.schedule, let schedule = try? CronSchedule(parsing: text) else { return }
        let zone = cronJob.spec.timeZone.flatMap(BatchRules.timeZone(named:)) ?? TimeZone(identifier: "UTC")!
        let now = self.now()
        defer {
            if let next = schedule.next(after: now, in: zone) { queue.addAfter(key, max(0.05, next.timeIntervalSince(now) + 0.1)) }
        }
        var earliest = status.lastScheduleTime ?? cronJob.metadata.creationTimestamp ?? now
        if let deadline = cronJob.spec.startingDeadlineSeconds {
            earliest = max(earliest, now.addingTimeInterval(-Double(deadline)))
        }
        let (latest, missed) = schedule.mostRecent(atOrBefore: now, notBefore: earliest, in: zone)
        guard let scheduled = latest else { return }
        if missed > 100 {
            events?.object(cronJob, type: "Warning", reason: "TooManyMissedTimes",
                           message: "too many missed start times: \(missed). Set or decrease .spec.startingDeadlineSeconds or check clock skew")
        }
        if let deadline = cronJob.spec.startingDeadlineSeconds, scheduled.addingTimeInterval(Double(deadline)) < now {
            events?.object(cronJob, type: "Warning", reason: "MissSchedule",
                           message: "Missed scheduled time to start a job: \(KubeTime.format(scheduled))")
            return
        }
        let name = Self.jobName(cronJob, scheduled: scheduled)
        if owned.contains(where: { $0.name == name }) { return }
        let running = owned.filter { Self.isFinished($0) == nil }
        switch cronJob.spec.concurrencyPolicy ?? .allow {
        case .forbid where !running.isEmpty:
            events?.object(cronJob, reason: "JobAlreadyActive", message: "Not starting job because prior execution is running and concurrency policy is Forbid")
            return
        case .replace:
            for job in running {
                try client.delete(job, propagation: .background)
                events?.object(cronJob, reason: "SuccessfulDelete", message: "Deleted job \(job.name)")
            }
            status.active = status.active.filter { ref in !running.contains { $0.uid == ref.uid } }
        default:
            break
        }
        var created: Job
        do {
            created = try client.create(Self.job(for: cronJob, name: name, scheduled: scheduled, zone: zone))
            events?.object(cronJob, reason: "SuccessfulCreate", message: "Created job \(created.name)")
        } catch let e as APIStatusError where e.code == 409 {
            guard let existing = try client.get(Job.self, namespace: cronJob.namespace, name: name) else { throw e }
            created = existing   // made by us before a restart
        }
        if !status.active.contains(where: { $0.uid == created.uid }) { status.active.append(Self.reference(created)) }
        status.lastScheduleTime = scheduled
    }

    /// status.active holds exactly the owned Jobs still running; finished ones are noted.
    func reconcileActive(_ cronJob: CronJob, owned: [Job], status: inout CronJobStatus) {
        let byUID = Dictionary(owned.map { ($0.uid, $0) }, uniquingKeysWith: { a, _ in a })
        var active: [ObjectReference] = []
        for ref in status.active {
            guard let job = byUID[ref.uid ?? ""] else { continue }
            if let finished = Self.isFinished(job) {
                events?.object(cronJob, reason: "SawCompletedJob", message: "Saw completed job: \(job.name), condition: \(finished.rawValue)")
                continue
            }
            active.append(ref)
        }
        for job in owned where Self.isFinished(job) == nil && !active.contains(where: { $0.uid == job.uid }) {
            active.append(Self.reference(job))
        }
        status.active = active
        let completions = owned.filter { Self.isFinished($0) == .complete }.compactMap(\.status.completionTime)
        if let latest = completions.max(), latest > (status.lastSuccessfulTime ?? .distantPast) { status.lastSuccessfulTime = latest }
    }

    /// Deletes the oldest finished Jobs beyond successfulJobsHistoryLimit and failedJobsHistoryLimit.
    func cleanUpHistory(_ cronJob: CronJob, owned: [Job], client: ObjectClient) throws {
        let limits: [(JobConditionType, Int64)] = [(.complete, cronJob.spec.successfulJobsHistoryLimit ?? 3),
                                                   (.failed, cronJob.spec.failedJobsHistoryLimit ?? 1)]
        for (kind, limit) in limits {
            let finished = owned.filter { Self.isFinished($0) == kind && !$0.isBeingDeleted }
                .sorted { ($0.status.startTime ?? $0.metadata.creationTimestamp ?? .distantPast) < ($1.status.startTime ?? $1.metadata.creationTimestamp ?? .distantPast) }
            for job in finished.dropLast(Int(max(0, limit))) {
                try client.delete(job, propagation: .background)
                events?.object(cronJob, reason: "SuccessfulDelete", message: "Deleted job \(job.name)")
            }
        }
    }

    func writeStatus(_ cronJob: CronJob, _ status: CronJobStatus, client: ObjectClient) throws {
        guard status.json != cronJob.status.json else { return }
        var updated = cronJob
        updated.status = status
        _ = try client.updateStatus(updated)
    }

    static func reference(_ job: Job) -> ObjectReference {
        var ref = ObjectReference()
        ref.apiVersion = Job.apiVersion
        ref.kind = Job.kind
        ref.namespace = job.metadata.namespace
        ref.name = job.metadata.name
        ref.uid = job.metadata.uid
        ref.resourceVersion = job.metadata.resourceVersion
        return ref
    }

    /// The Job for one scheduled time, from the CronJob's jobTemplate.
    static func job(for cronJob: CronJob, name: String, scheduled: Date, zone: TimeZone) -> Job {
        var job = Job.new(namespace: cronJob.namespace, name: name)
        let template = cronJob.spec.jobTemplate
        job.spec = template.spec
        job.metadata.labels = template.metadata.labels
        var annotations = template.metadata.annotations ?? [:]
        annotations[BatchRules.cronJobScheduledTimestampAnnotation] = Self.rfc3339(scheduled, in: zone)
        job.metadata.annotations = annotations
        job.metadata.ownerReferences = [cronJob.ownerReference()]
        return job
    }

    /// RFC 3339 with the zone's offset ("2026-12-06T09:00:00+01:00"), as Go's time.Format writes it.
    static func rfc3339(_ date: Date, in zone: TimeZone) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = zone
        f.dateFormat = "yyyy-MM-dd'T'HH:mm:ssxxxxx"
        let s = f.string(from: date)
        return s.hasSuffix("+00:00") ? String(s.dropLast(6)) + "Z" : s
    }
}
