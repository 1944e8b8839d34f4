// The Job and TTL-after-finished controllers against FakeObjectClient: no cluster, a test clock,
// and the node's part (a pod finishing) played by status patches. The same controllers run
// against a real master and agent in NodeRootTests/JobRootTests.swift.
import API
import Client
@testable import Controllers
import Foundation
import Synchronization
import Testing

final class TestClock: Sendable {
    private let t = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
    var now: Date { t.withLock { $0 } }
    func advance(_ seconds: Double) { t.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

/// The controller's pods, which can fall behind the API as an informer's cache does: while
/// lagging, it lists the pods as they were and holds their change events back.
final class LaggingPodCache: @unchecked Sendable {
    private let lock = NSLock()
    private let live: Lister<Pod>
    private var frozen: [JSONValue]?
    private var held: [(Pod?, Pod?)] = []
    private var catchUpAfterList = false
    var handler: (@Sendable (Pod?, Pod?) -> Void)?

    init(live: Lister<Pod>) { self.live = live }

    var lister: Lister<Pod> {
        Lister(items: { [self] in items() }, get: { [self] key in items().first { Pod(json: $0).key == key } })
    }

    func lag() { lock.lock(); frozen = live.list().map(\.json); lock.unlock() }

    /// The held events arrive right after the next sync has taken its list.
    func catchUpAfterNextList() { lock.lock(); catchUpAfterList = true; lock.unlock() }

    func catchUp() {
        lock.lock()
        let events = held
        held = []
        frozen = nil
        catchUpAfterList = false
        lock.unlock()
        for (old, new) in events { handler?(old, new) }
    }

    func changed(_ old: Pod?, _ new: Pod?) {
        lock.lock()
        if frozen != nil {
            held.append((old, new))
            lock.unlock()
            return
        }
        lock.unlock()
        handler?(old, new)
    }

    private func items() -> [JSONValue] {
        lock.lock()
        let (list, thenCatchUp) = (frozen ?? live.list().map(\.json), catchUpAfterList)
        lock.unlock()
        if thenCatchUp { catchUp() }
        return list
    }
}

/// A fake API, a Job controller over it and the clock both share.
struct JobHarness {
    let clock = TestClock()
    let api: FakeObjectClient
    let cache: LaggingPodCache
    let controller: JobController

    init() {
        let clock = self.clock
        api = FakeObjectClient(now: { clock.now })
        cache = LaggingPodCache(live: api.lister(Pod.self))
        controller = JobController(jobs: api.lister(Job.self), pods: cache.lister, events: nil, now: { clock.now })
        let c = controller, cache = self.cache
        cache.handler = { c.podChanged(old: $0, new: $1) }
        api.onChange(Pod.self) { cache.changed($0, $1) }
    }

    /// Creates a Job as the API server would (defaults, generated selector) and syncs it.
    @discardableResult
    func create(_ name: String, _ edit: (inout Job) -> Void = { _ in }) throws -> Job {
        var job = Job.new(namespace: "default", name: name)
        job.spec.template.spec.restartPolicy = .never
        var c = Container()
        c.name = "main"
        c.image = "busybox"
        job.spec.template.spec.containers = [c]
        edit(&job)
        job.metadata.uid = "uid-" + name
        var json = job.json
        BatchRules.job.applyDefaults(&json)
        #expect(BatchRules.job.validate(json).isEmpty, "\(BatchRules.job.validate(json))")
        api.seed(Job(json: json))   // as created: the uid is the one the selector was made from
        try sync(name)
        return try self.job(name)
    }

    func sync(_ name: String) throws { try controller.sync("default/" + name, client: api) }
    func job(_ name: String) throws -> Job { try #require(try api.get(Job.self, namespace: "default", name: name)) }
    func pods(_ job: String) throws -> [Pod] {
        try api.list(Pod.self, namespace: "default").filter { $0.metadata.ownerReferences.first?.name == job }
            .sorted { ($0.metadata.creationTimestamp ?? .distantPast, $0.name) < ($1.metadata.creationTimestamp ?? .distantPast, $1.name) }
    }
    func active(_ job: String) throws -> [Pod] { try pods(job).filter { !$0.isTerminal && !$0.isBeingDeleted } }

    /// The node's part: the pod's container exits with `code`.
    func finish(_ pod: Pod, exitCode: Int64) throws {
        let status: JSONValue = [
            "phase": .string(exitCode == 0 ? "Succeeded" : "Failed"),
            "containerStatuses": [["name": "main", "state": ["terminated": ["exitCode": .int(exitCode), "finishedAt": .string(KubeTime.format(clock.now))]]]],
        ]
        _ = try api.patch(Pod.self, namespace: "default", name: pod.name, ["status": status], .merge, subresource: "status")
    }

    func condition(_ job: Job, _ type: JobConditionType) -> JobCondition? {
        job.status.conditions.first { $0.type == type && $0.status == .true }
    }
}

@Suite struct JobControllerTests {
    @Test func runsToCompletionsWithParallelism() throws {
        let h = JobHarness()
        try h.create("pi") { $0.spec.completions = 3; $0.spec.parallelism = 2 }
        var pods = try h.active("pi")
        #expect(pods.count == 2)
        let pod = pods[0]
        #expect(pod.metadata.finalizers == [JobController.trackingFinalizer])
        #expect(pod.controllerRef?.uid == "uid-pi" && pod.controllerRef?.blockOwnerDeletion == true)
        #expect(pod.metadata.labels?[BatchRules.jobNameLabel] == "pi" && pod.metadata.labels?[BatchRules.controllerUIDLabel] == "uid-pi")
        #expect(pod.metadata.generateName == "pi-")
        #expect(try h.job("pi").status.active == 2 && h.job("pi").status.startTime == h.clock.now)

        try h.finish(pod, exitCode: 0)
        try h.sync("pi")
        var job = try h.job("pi")
        #expect(job.status.succeeded == 1 && job.status.failed == nil)
        #expect(job.status.uncountedTerminatedPods.succeeded ?? [] == [])
        #expect(try h.api.get(Pod.self, namespace: "default", name: pod.name)?.metadata.finalizers ?? [] == [], "finalizer released")
        pods = try h.active("pi")
        #expect(pods.count == 2, "a replacement keeps two running while two completions remain")

        for p in pods { try h.finish(p, exitCode: 0) }
        try h.sync("pi")
        job = try h.job("pi")
        #expect(job.status.succeeded == 3 && job.status.active == nil)
        #expect(h.condition(job, .complete)?.reason == "CompletionsReached")
        #expect(h.condition(job, .successCriteriaMet) != nil)
        #expect(job.status.completionTime == h.clock.now)
        #expect(try h.pods("pi").count == 3, "no pod beyond the completions")
        try h.sync("pi")
        #expect(try h.job("pi").status.succeeded == 3, "a finished Job counts nothing twice")
    }

    @Test func failuresBackOffAndExceedTheLimit() throws {
        let h = JobHarness()
        try h.create("flaky") { $0.spec.backoffLimit = 1 }
        try h.finish(try h.active("flaky")[0], exitCode: 1)
        try h.sync("flaky")
        #expect(try h.job("flaky").status.failed == 1)
        #expect(try h.active("flaky").isEmpty, "the replacement waits out the 10 s back-off")
        h.clock.advance(5)
        try h.sync("flaky")
        #expect(try h.active("flaky").isEmpty)
        h.clock.advance(6)
        try h.sync("flaky")
        let second = try h.active("flaky")
        #expect(second.count == 1)
        try h.finish(second[0], exitCode: 2)
        try h.sync("flaky")
        let job = try h.job("flaky")
        #expect(job.status.failed == 2)
        #expect(h.condition(job, .failed)?.reason == "BackoffLimitExceeded")
        #expect(h.condition(job, .failed)?.message == "Job has reached the specified backoff limit")
        #expect(h.condition(job, .failureTarget) != nil && h.condition(job, .complete) == nil)
        h.clock.advance(400)
        try h.sync("flaky")
        #expect(try h.pods("flaky").count == 2, "a failed Job starts nothing more")
    }

    @Test func backoffDoublesAndIsCapped() {
        let b = JobBackoff()
        let t0 = Date(timeIntervalSince1970: 0)
        #expect(b.remaining("a", failures: 1, lastFailure: t0, now: t0) == 10)
        #expect(b.remaining("b", failures: 3, lastFailure: t0, now: t0) == 40)
        #expect(b.remaining("c", failures: 9, lastFailure: t0, now: t0) == 360)
        #expect(b.remaining("d", failures: 0, lastFailure: t0, now: t0) == nil)
    }

    @Test func indexedJobsRunEachIndexOnce() throws {
        let h = JobHarness()
        try h.create("idx") { $0.spec.completions = 3; $0.spec.parallelism = 3; $0.spec.completionMode = .indexed }
        let pods = try h.active("idx")
        #expect(pods.count == 3)
        let byIndex = Dictionary(uniqueKeysWithValues: pods.map { (JobTracking.index(of: $0) ?? -1, $0) })
        #expect(Set(byIndex.keys) == [0, 1, 2])
        let one = try #require(byIndex[1])
        #expect(one.spec.hostname == "idx-1" && one.metadata.generateName == "idx-1-")
        #expect(one.metadata.labels?[BatchRules.completionIndexAnnotation] == "1")
        let env = try #require(one.spec.containers.first?.env.first { $0.name == "JOB_COMPLETION_INDEX" })
        #expect(env.valueFrom?["fieldRef"]?["fieldPath"] == "metadata.annotations['batch.kubernetes.io/job-completion-index']")

        try h.finish(one, exitCode: 0)
        // Someone deletes index 0's pod: the finalizer keeps it until it is counted as failed.
        let zero = try #require(byIndex[0])
        try h.api.delete(zero)
        try h.sync("idx")
        var job = try h.job("idx")
        #expect(job.status.completedIndexes == "1" && job.status.succeeded == 1)
        #expect(job.status.failed == 1)
        #expect(try h.api.get(Pod.self, namespace: "default", name: zero.name) == nil, "released, so the API server removed it")
        h.clock.advance(11)
        try h.sync("idx")
        let running = try h.active("idx").compactMap(JobTracking.index(of:)).sorted()
        #expect(running == [0, 2], "index 0 is retried, index 1 is not rerun")
        for p in try h.active("idx") { try h.finish(p, exitCode: 0) }
        try h.sync("idx")
        job = try h.job("idx")
        #expect(job.status.completedIndexes == "0-2" && job.status.succeeded == 3 && h.condition(job, .complete) != nil)
    }

    @Test func aPodDeletedRightAfterSucceedingIsCountedOnce() throws {
        let h = JobHarness()
        try h.create("once") { $0.spec.completions = 2; $0.spec.parallelism = 1 }
        let pod = try h.active("once")[0]
        try h.finish(pod, exitCode: 0)
        try h.api.delete(pod)   // gone from the node's point of view; the finalizer holds it
        try h.sync("once")
        try h.sync("once")
        let job = try h.job("once")
        #expect(job.status.succeeded == 1 && job.status.failed == nil)
        #expect(try h.api.get(Pod.self, namespace: "default", name: pod.name) == nil)
        #expect(try h.active("once").count == 1)
    }

    @Test func aStalePodCacheCountsNothingTwice() throws {
        let h = JobHarness()
        try h.create("stale") { $0.spec.completions = 2; $0.spec.parallelism = 1 }
        try h.finish(try h.active("stale")[0], exitCode: 0)
        h.cache.lag()   // the pod informer still shows the pod finished and holding the finalizer
        try h.sync("stale")
        #expect(try h.job("stale").status.succeeded == 1)
        try h.sync("stale")
        var job = try h.job("stale")
        #expect(job.status.succeeded == 1 && h.condition(job, .complete) == nil, "the stale copy is not counted again")
        h.cache.catchUp()
        try h.sync("stale")
        job = try h.job("stale")
        #expect(job.status.succeeded == 1 && job.status.active == 1)
    }

    @Test func anExcessPodDeletedByTheControllerIsNotAFailure() throws {
        let h = JobHarness()
        try h.create("shrink") { $0.spec.completions = 5; $0.spec.parallelism = 2 }
        var job = try h.job("shrink")
        job.spec.parallelism = 1
        _ = try h.api.update(job)
        try h.sync("shrink")   // deletes one pod: its finalizer holds it
        h.cache.lag()
        try h.sync("shrink")   // the finalizer comes off, and the API server removes the pod
        try h.sync("shrink")   // the cache still shows it deleting and holding the finalizer
        h.cache.catchUp()
        try h.sync("shrink")
        job = try h.job("shrink")
        #expect(job.status.failed == nil && job.status.active == 1)
    }

    @Test func podsCreatedWhileASyncCountsAreNotCreatedTwice() throws {
        let h = JobHarness()
        try h.create("race") { $0.spec.completions = 10; $0.spec.parallelism = 2 }
        h.cache.lag()
        try h.finish(try h.active("race")[0], exitCode: 0)
        h.cache.catchUp()
        h.cache.lag()
        try h.sync("race")   // counts the finished pod and creates its replacement, unseen yet
        h.cache.catchUpAfterNextList()   // the replacement shows up while the next sync works on its old list
        try h.sync("race")
        try h.sync("race")
        #expect(try h.active("race").count == 2, "no third pod, so none to delete as excess")
        #expect(try h.pods("race").allSatisfy { !$0.isBeingDeleted })
    }

    @Test func podFailurePolicyFailsOrIgnores() throws {
        let h = JobHarness()
        try h.create("policy") { job in
            job.spec.completions = 1
            var fail = PodFailurePolicyRule(), ignore = PodFailurePolicyRule()
            fail.action = .failJob
            fail.onExitCodes.op = .in
            fail.onExitCodes.values = [42]
            ignore.action = .ignore
            ignore.onExitCodes.op = .in
            ignore.onExitCodes.values = [137]
            job.spec.podFailurePolicy.rules = [fail, ignore]
        }
        try h.finish(try h.active("policy")[0], exitCode: 137)
        try h.sync("policy")
        #expect(try h.job("policy").status.failed == nil, "ignored: not a failure")
        #expect(try h.active("policy").count == 1, "replaced without back-off")
        let second = try h.active("policy")[0]
        try h.finish(second, exitCode: 42)
        try h.sync("policy")
        let job = try h.job("policy")
        let failed = try #require(h.condition(job, .failed))
        #expect(failed.reason == "PodFailurePolicy")
        #expect(failed.message == "Container main for pod default/\(second.name) failed with exit code 42 matching FailJob rule at index 0")
    }

    @Test func activeDeadlineFailsAndStopsPods() throws {
        let h = JobHarness()
        try h.create("slow") { $0.spec.activeDeadlineSeconds = 30; $0.spec.parallelism = 2; $0.spec.completions = 4 }
        #expect(try h.active("slow").count == 2)
        h.clock.advance(31)
        try h.sync("slow")
        let job = try h.job("slow")
        #expect(h.condition(job, .failed)?.reason == "DeadlineExceeded")
        #expect(try h.active("slow").isEmpty, "running pods are deleted")
        #expect(job.status.failed == nil, "pods the controller stopped are not failures")
    }

    @Test func suspendStopsPodsAndResumeRestarts() throws {
        let h = JobHarness()
        try h.create("pause") { $0.spec.parallelism = 2; $0.spec.completions = 2 }
        var job = try h.job("pause")
        job.spec.suspend = true
        _ = try h.api.update(job)
        try h.sync("pause")
        job = try h.job("pause")
        #expect(try h.active("pause").isEmpty)
        #expect(h.condition(job, .suspended)?.reason == "JobSuspended")
        #expect(job.status.failed == nil && job.status.startTime == nil)
        try h.sync("pause")   // the deleted pods are released, not counted
        #expect(try h.pods("pause").isEmpty && h.job("pause").status.failed == nil)
        job = try h.job("pause")
        job.spec.suspend = false
        _ = try h.api.update(job)
        try h.sync("pause")
        job = try h.job("pause")
        #expect(try h.active("pause").count == 2)
        #expect(job.status.conditions.first { $0.type == .suspended }?.status == .false)
        #expect(job.status.conditions.first { $0.type == .suspended }?.reason == "JobResumed")
    }

    @Test func withoutCompletionsTheFirstSuccessEndsTheJob() throws {
        let h = JobHarness()
        try h.create("queue") { $0.spec.parallelism = 2; $0.spec.completions = nil }
        let pods = try h.active("queue")
        #expect(pods.count == 2)
        try h.finish(pods[0], exitCode: 0)
        try h.sync("queue")
        #expect(try h.active("queue").count == 1, "no new pods once one succeeded")
        #expect(h.condition(try h.job("queue"), .complete) == nil, "complete when the others are done")
        try h.finish(pods[1], exitCode: 0)
        try h.sync("queue")
        #expect(h.condition(try h.job("queue"), .complete) != nil)
    }

    @Test func ttlDeletesFinishedJobsWhenDue() throws {
        let h = JobHarness()
        try h.create("short") { $0.spec.ttlSecondsAfterFinished = 5 }
        try h.finish(try h.active("short")[0], exitCode: 0)
        try h.sync("short")
        let clock = h.clock
        let ttl = TTLAfterFinishedController(jobs: h.api.lister(Job.self), now: { clock.now })
        _ = h.api.takeActions()
        try ttl.sync("default/short", client: h.api)
        #expect(h.api.takeActions().isEmpty, "not due yet")
        h.clock.advance(6)
        try ttl.sync("default/short", client: h.api)
        #expect(h.api.takeActions().map(\.description) == ["delete Job default/short"])
        #expect(try h.api.get(Job.self, namespace: "default", name: "short") == nil)
    }

    @Test func completedIndexesRoundTrip() {
        #expect(CompletedIndexes("1,3-5,7").description == "1,3-5,7")
        #expect(CompletedIndexes("5,1,2,3").description == "1-3,5")
        #expect(CompletedIndexes("").count == 0 && CompletedIndexes("0-9").count == 10)
    }
}
