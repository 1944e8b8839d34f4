// Jobs and CronJobs on a real cluster (`skiff up`, kubectl 1.33): a Job runs to completion and its
// logs are read, a failing one stops at backoffLimit, an Indexed one gives each pod its index and
// hostname and is deleted by its TTL, a CronJob fires on its schedule and by `create job --from`,
// and deleting a Job deletes its pods.
import Foundation
import Testing
import TestSupport

@Suite(.serialized, .enabled(if: TestEnv.isRoot, "runs the whole cluster"))
struct JobRootTests {
    static let manifests = """
    apiVersion: batch/v1
    kind: Job
    metadata: {name: pi}
    spec:
      completions: 3
      parallelism: 2
      template:
        spec:
          restartPolicy: Never
          containers:
          - {name: pi, image: busybox, imagePullPolicy: IfNotPresent, command: ["sh", "-c", "echo computed by $HOSTNAME"]}
    ---
    apiVersion: batch/v1
    kind: Job
    metadata: {name: fails}
    spec:
      backoffLimit: 1
      template:
        spec:
          restartPolicy: Never
          containers:
          - {name: c, image: busybox, imagePullPolicy: IfNotPresent, command: ["sh", "-c", "exit 3"]}
    ---
    apiVersion: batch/v1
    kind: Job
    metadata: {name: idx}
    spec:
      completions: 3
      parallelism: 3
      completionMode: Indexed
      ttlSecondsAfterFinished: 10
      template:
        spec:
          restartPolicy: Never
          containers:
          - {name: c, image: busybox, imagePullPolicy: IfNotPresent, command: ["sh", "-c", "echo index=$JOB_COMPLETION_INDEX host=$(hostname)"]}
    ---
    apiVersion: batch/v1
    kind: CronJob
    metadata: {name: tick}
    spec:
      schedule: "* * * * *"
      successfulJobsHistoryLimit: 5
      jobTemplate:
        spec:
          template:
            spec:
              restartPolicy: OnFailure
              containers:
              - {name: c, image: busybox, imagePullPolicy: IfNotPresent, command: ["sh", "-c", "echo tick"]}
    """

    @Test func jobsAndCronJobsRunOnTheCluster() throws {
        let up = try SkiffUp(name: "skiff-jobs")
        defer { up.stop() }
        func k(_ args: String...) throws -> (status: Int32, stdout: String, stderr: String) { try up.k(args) }
        let applied = try up.k(["apply", "-f", "-"], stdin: Self.manifests)
        #expect(applied.status == 0, "\(applied.stderr)")

        // To completion, with logs.
        let done = try k("wait", "--for=condition=complete", "job/pi", "--timeout=60s")
        let podList = (try? k("get", "pods", "-o", "wide").stdout) ?? ""
        #expect(done.status == 0, "\(done) \(podList) \(up.log)")
        #expect(try k("get", "job", "pi", "-o", "jsonpath={.status.succeeded}").stdout == "3")
        let logs = try k("logs", "job/pi")
        #expect(logs.stdout.hasPrefix("computed by pi-"), "\(logs)")
        let row = try k("get", "job", "pi", "--no-headers").stdout
        #expect(row.contains("Complete") && row.contains("3/3"), "\(row)")

        // Indexed: each index once, with its hostname (read before the 10 s TTL runs out).
        #expect(try k("wait", "--for=condition=complete", "job/idx", "--timeout=60s").status == 0)
        var indexLogs: [String] = []
        #expect(try TestEnv.eventually(10) {
            let pods = try k("get", "pods", "-l", "batch.kubernetes.io/job-name=idx", "-o", "name").stdout.split(separator: "\n")
            indexLogs = try pods.map { try k("logs", String($0)).stdout.trimmingCharacters(in: .whitespacesAndNewlines) }.sorted()
            return indexLogs == ["index=0 host=idx-0", "index=1 host=idx-1", "index=2 host=idx-2"]
        }, "\(indexLogs)")

        // backoffLimit: two failures, then Failed with Kubernetes' reason.
        let failed = try k("wait", "--for=condition=failed", "job/fails", "--timeout=90s")
        #expect(failed.status == 0, "\(failed)")
        let why = try k("get", "job", "fails", "-o", "jsonpath={.status.conditions[?(@.type==\"Failed\")].reason} {.status.failed}").stdout
        #expect(why == "BackoffLimitExceeded 2", "\(why)")

        // By now the TTL has run out: Job and pods are deleted.
        #expect(try TestEnv.eventually(30) { try k("get", "job", "idx").status != 0 }, "the TTL deleted the Job")
        #expect(try TestEnv.eventually(30) { try k("get", "pods", "-l", "batch.kubernetes.io/job-name=idx", "-o", "name").stdout.isEmpty })

        // A CronJob by hand and on its schedule (every minute: up to a minute's wait).
        let manual = try k("create", "job", "manual", "--from=cronjob/tick")
        #expect(manual.status == 0, "\(manual)")
        #expect(try k("wait", "--for=condition=complete", "job/manual", "--timeout=60s").status == 0)
        #expect(try k("logs", "job/manual").stdout == "tick\n")
        var jobs = ""
        #expect(try TestEnv.eventually(90) {
            jobs = try k("get", "jobs", "-o", "name").stdout
            return jobs.split(separator: "\n").contains { $0.hasPrefix("job.batch/tick-") }
        }, "\(jobs) \(up.log)")
        #expect(try TestEnv.eventually(30) { !(try k("get", "cronjob", "tick", "-o", "jsonpath={.status.lastScheduleTime}").stdout.isEmpty) })

        // Deleting a Job deletes its pods (kubectl deletes in the background).
        #expect(try k("delete", "job", "pi").status == 0)
        #expect(try TestEnv.eventually(30) { try k("get", "pods", "-l", "batch.kubernetes.io/job-name=pi", "-o", "name").stdout.isEmpty })

        // Bad specs get Kubernetes' field errors.
        let bad = try up.k(["create", "-f", "-"], stdin: """
            apiVersion: batch/v1
            kind: Job
            metadata: {name: bad}
            spec:
              parallelism: -1
              template:
                spec:
                  restartPolicy: Always
                  containers: [{name: c, image: busybox}]
            """)
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("spec.parallelism: Invalid value"), "\(bad.stderr)")
        #expect(bad.stderr.contains("spec.template.spec.restartPolicy: Unsupported value: \"Always\""), "\(bad.stderr)")
        let badCron = try k("create", "cronjob", "bad", "--image=busybox", "--schedule=61 * * * *")
        #expect(badCron.status != 0 && badCron.stderr.contains("spec.schedule"), "\(badCron.stderr)")
    }
}
