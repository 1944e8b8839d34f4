// Deletes finished Jobs ttlSecondsAfterFinished after they completed or failed, with their pods
// (background propagation). The Job is re-read live before deletion so a TTL changed a moment
// ago is honoured, and deleted with a uid precondition so a new Job of the same name survives.
import API
import Client
import Foundation

final class TTLAfterFinishedController: Controller, InitialKeys, @unchecked Sendable {
    let name = "ttl-after-finished"
    let queue = WorkQueue()
    let jobs: Lister<Job>
    let now: @Sendable () -> Date

    init(jobs: Lister<Job>, now: @escaping @Sendable () -> Date = { Date() }) {
        self.jobs = jobs
        self.now = now
    }

    func watch(_ informer: Informer) {
        informer.onChange(Job.self) { [self] _, new in
            if let new, new.spec.ttlSecondsAfterFinished != nil { queue.add(new.key) }
        }
    }

    func initialKeys() -> [String] { jobs.list().filter { $0.spec.ttlSecondsAfterFinished != nil }.map(\.key) }

    /// When the Job finished (completionTime, or the Failed condition's transition), if it has.
    static func finishTime(_ job: Job) -> Date? {
        let finished = job.status.conditions.first { ($0.type == .complete || $0.type == .failed) && $0.status == .true }
        guard let finished else { return nil }
        return job.status.completionTime ?? finished.lastTransitionTime
    }

    /// Seconds until the Job expires (<= 0: expired), nil when it has no TTL or is not finished.
    func remaining(_ job: Job) -> Double? {
        guard let ttl = job.spec.ttlSecondsAfterFinished, let finished = Self.finishTime(job), !job.isBeingDeleted else { return nil }
        return finished.addingTimeInterval(Double(ttl)).timeIntervalSince(now())
    }

    func sync(_ key: String, client: APIClient) throws { try sync(key, client: client as ObjectClient) }

    func sync(_ key: String, client: ObjectClient) throws {
        guard let cached = jobs.get(key), let left = remaining(cached) else { return }
        if left > 0 {
            queue.addAfter(key, left)
            return
        }
        guard let live = try client.get(Job.self, namespace: cached.namespace, name: cached.name), let stillLeft = remaining(live) else { return }
        if stillLeft > 0 {
            queue.addAfter(key, stillLeft)
            return
        }
        do {
            try client.delete(live, propagation: .background)
        } catch let e as APIStatusError where e.isConflict {}   // a new Job took the name
    }
}
