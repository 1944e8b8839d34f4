// The CronJob controller against FakeObjectClient and a test clock: Jobs at the scheduled
// minutes, one catch-up after downtime, deadlines, concurrency policies and history limits.
import API
import Client
@testable import Controllers
import Foundation
import Testing

struct CronHarness {
    let clock = TestClock()
    let api: FakeObjectClient
    let controller: CronJobController

    init() {
        let clock = self.clock
        api = FakeObjectClient(now: { clock.now })
        controller = CronJobController(cronJobs: api.lister(CronJob.self), jobs: api.lister(Job.self), events: nil, now: { clock.now })
    }

    /// A CronJob created `ago` seconds before the clock's now.
    func create(_ name: String, schedule: String, ago: Double = 0, _ edit: (inout CronJob) -> Void = { _ in }) {
        var cj = CronJob.new(namespace: "default", name: name)
        cj.spec.schedule = schedule
        cj.spec.jobTemplate.spec.template.spec.restartPolicy = .never
        var c = Container()
        c.name = "main"
        c.image = "busybox"
        cj.spec.jobTemplate.spec.template.spec.containers = [c]
        edit(&cj)
        var json = cj.json
        BatchRules.cronJob.applyDefaults(&json)
        #expect(BatchRules.cronJob.validate(json).isEmpty, "\(BatchRules.cronJob.validate(json))")
        cj = CronJob(json: json)
        cj.metadata.creationTimestamp = clock.now.addingTimeInterval(-ago)
        api.seed(cj)
    }

    func sync(_ name: String) throws { try controller.sync("default/" + name, client: api) }
    func cronJob(_ name: String) throws -> CronJob { try #require(try api.get(CronJob.self, namespace: "default", name: name)) }
    func jobs() throws -> [Job] { try api.list(Job.self, namespace: "default").sorted { $0.name < $1.name } }

    func finish(_ job: Job, _ type: JobConditionType) throws {
        var status = JobStatus()
        setCondition(&status, type, true, reason: "Test", message: "", now: clock.now)
        if type == .complete { status.completionTime = clock.now }
        status.startTime = clock.now
        _ = try api.patch(Job.self, namespace: "default", name: job.name, ["status": status.json], .merge, subresource: "status")
    }
}

@Suite struct CronJobControllerTests {
    @Test func createsAJobPerScheduledMinute() throws {
        let h = CronHarness()
        // The clock starts at 1_800_000_000 = 2027-01-15T08:00:00Z, on a minute.
        h.create("tick", schedule: "*/5 * * * *", ago: 30)
        try h.sync("tick")
        var jobs = try h.jobs()
        #expect(jobs.map(\.name) == ["tick-30000000"], "the 08:00 run, named by minutes since the epoch")
        let job = try #require(jobs.first)
        #expect(job.controllerRef?.kind == "CronJob" && job.controllerRef?.name == "tick")
        #expect(job.metadata.annotations?[BatchRules.cronJobScheduledTimestampAnnotation] == "2027-01-15T08:00:00Z")
        var cj = try h.cronJob("tick")
        #expect(cj.status.lastScheduleTime == h.clock.now && cj.status.active.map(\.name) == ["tick-30000000"])
        try h.sync("tick")
        #expect(try h.jobs().count == 1, "a time runs once")
        h.clock.advance(5 * 60)
        try h.sync("tick")
        jobs = try h.jobs()
        #expect(jobs.map(\.name) == ["tick-30000000", "tick-30000005"])
        try h.finish(jobs[0], .complete)
        try h.sync("tick")
        cj = try h.cronJob("tick")
        #expect(cj.status.active.map(\.name) == ["tick-30000005"])
        #expect(cj.status.lastSuccessfulTime == h.clock.now)
    }

    @Test func afterDowntimeOnlyTheLatestMissedTimeRuns() throws {
        let h = CronHarness()
        h.create("hourly", schedule: "@hourly", ago: 10 * 3600 + 60)
        try h.sync("hourly")
        #expect(try h.jobs().map(\.name) == ["hourly-30000000"], "one catch-up, not ten")
    }

    @Test func aStartingDeadlinePastMeansSkip() throws {
        let h = CronHarness()
        h.clock.advance(120)   // 08:02, the 08:00 run is two minutes late
        h.create("strict", schedule: "0 * * * *", ago: 600) { $0.spec.startingDeadlineSeconds = 60 }
        try h.sync("strict")
        #expect(try h.jobs().isEmpty)
        h.create("lenient", schedule: "0 * * * *", ago: 600) { $0.spec.startingDeadlineSeconds = 300 }
        try h.sync("lenient")
        #expect(try h.jobs().count == 1)
    }

    @Test func forbidSkipsAndReplaceDeletesTheRunningJob() throws {
        let h = CronHarness()
        h.create("forbid", schedule: "* * * * *", ago: 30) { $0.spec.concurrencyPolicy = .forbid }
        h.create("replace", schedule: "* * * * *", ago: 30) { $0.spec.concurrencyPolicy = .replace }
        try h.sync("forbid")
        try h.sync("replace")
        h.clock.advance(60)
        try h.sync("forbid")
        try h.sync("replace")
        let names = try h.jobs().map(\.name)
        #expect(names.filter { $0.hasPrefix("forbid-") } == ["forbid-30000000"])
        #expect(names.filter { $0.hasPrefix("replace-") } == ["replace-30000001"])
        #expect(try h.cronJob("replace").status.active.map(\.name) == ["replace-30000001"])
    }

    @Test func historyLimitsKeepTheNewestFinishedJobs() throws {
        let h = CronHarness()
        h.create("hist", schedule: "* * * * *", ago: 30) {
            $0.spec.successfulJobsHistoryLimit = 2
            $0.spec.failedJobsHistoryLimit = 0
        }
        for minute in 0..<4 {
            try h.sync("hist")
            let newest = try #require(try h.jobs().last)
            try h.finish(newest, minute == 3 ? .failed : .complete)
            h.clock.advance(60)
        }
        h.clock.advance(-30)   // between runs: only clean-up happens
        try h.sync("hist")
        #expect(try h.jobs().map(\.name) == ["hist-30000001", "hist-30000002"])
    }

    @Test func suspendedCronJobsStartNothing() throws {
        let h = CronHarness()
        h.create("off", schedule: "* * * * *", ago: 300) { $0.spec.suspend = true }
        try h.sync("off")
        #expect(try h.jobs().isEmpty)
    }

    @Test func timeZonesShiftTheSchedule() throws {
        let h = CronHarness()
        // 08:00 UTC is 09:00 in Berlin in January.
        h.create("berlin", schedule: "0 9 * * *", ago: 60) { $0.spec.timeZone = "Europe/Berlin" }
        h.create("utc", schedule: "0 9 * * *", ago: 60)
        try h.sync("berlin")
        try h.sync("utc")
        let jobs = try h.jobs()
        #expect(jobs.map(\.name) == ["berlin-30000000"])
        #expect(jobs.first?.metadata.annotations?[BatchRules.cronJobScheduledTimestampAnnotation] == "2027-01-15T09:00:00+01:00")
    }
}
