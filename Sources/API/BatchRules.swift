// batch/v1 Job and CronJob: Kubernetes' defaults (parallelism, backoffLimit, the generated
// selector and its labels), validation with field paths, and the fields that are immutable.
import Foundation

public enum BatchRules {
    /// The labels a Job's pods carry; the generated selector matches the uid one.
    public static let controllerUIDLabel = "batch.kubernetes.io/controller-uid"
    public static let legacyControllerUIDLabel = "controller-uid"
    public static let jobNameLabel = "batch.kubernetes.io/job-name"
    public static let legacyJobNameLabel = "job-name"
    public static let completionIndexAnnotation = "batch.kubernetes.io/job-completion-index"
    /// A CronJob's Jobs carry the time they were scheduled for.
    public static let cronJobScheduledTimestampAnnotation = "batch.kubernetes.io/cronjob-scheduled-timestamp"

    public static let job: ResourceStrategy = {
        var s = ResourceStrategy()
        s.hasStatus = true
        s.tracksGeneration = true
        s.selectableFieldNames = ["status.successful"]
        s.selectableFields = { o in ["status.successful": String(Job(json: o).status.succeeded ?? 0)] }
        s.applyDefaults = { o in
            var job = Job(json: o)
            defaultJobSpec(&job.spec)
            if job.spec.manualSelector != true, let uid = job.metadata.uid, let name = job.metadata.name {
                generateSelector(&job.spec, uid: uid, jobName: name)
            }
            o = job.json
        }
        s.validate = { o in
            let job = Job(json: o)
            guard case .object = o["spec"] ?? .null else { return [FieldError(.required, field: "spec", detail: "")] }
            return validateJobSpec(job.spec, path: "spec")
        }
        s.validateUpdate = { new, old in
            let n = Job(json: new).spec, o = Job(json: old).spec
            var errs: [FieldError] = []
            func immutable(_ field: String, _ a: JSONValue?, _ b: JSONValue?) {
                if a != b { errs.append(FieldError(.invalid, field: "spec.\(field)", value: (a ?? .null).jsonString, detail: "field is immutable")) }
            }
            immutable("selector", n.json["selector"], o.json["selector"])
            immutable("completions", n.json["completions"], o.json["completions"])
            immutable("completionMode", n.json["completionMode"], o.json["completionMode"])
            immutable("podFailurePolicy", n.json["podFailurePolicy"], o.json["podFailurePolicy"])
            immutable("template", n.json["template"], o.json["template"])
            return errs
        }
        return s
    }()

    public static let cronJob: ResourceStrategy = {
        var s = ResourceStrategy()
        s.hasStatus = true
        s.tracksGeneration = true
        s.nameRule = { name, field in
            var errs = NameValidation.dns1123Subdomain(name, field: field)
            // Job names get an 11-character suffix and must still fit a label value.
            if name.count > 52 { errs.append(FieldError(.invalid, field: field, value: name, detail: "must be no more than 52 characters")) }
            return errs
        }
        s.applyDefaults = { o in
            var cj = CronJob(json: o)
            if cj.spec.concurrencyPolicy == nil { cj.spec.concurrencyPolicy = .allow }
            if cj.spec.suspend == nil { cj.spec.suspend = false }
            if cj.spec.successfulJobsHistoryLimit == nil { cj.spec.successfulJobsHistoryLimit = 3 }
            if cj.spec.failedJobsHistoryLimit == nil { cj.spec.failedJobsHistoryLimit = 1 }
            withChild(&cj.spec.jobTemplate.spec.template.json, "spec") { PodRules.defaultPodSpec(&$0) }
            o = cj.json
        }
        s.validate = { o in validateCronJob(CronJob(json: o)) }
        return s
    }()

    static func defaultJobSpec(_ spec: inout JobSpec) {
        if spec.completions == nil && spec.parallelism == nil { spec.completions = 1 }
        if spec.parallelism == nil { spec.parallelism = 1 }
        if spec.backoffLimit == nil { spec.backoffLimit = 6 }
        if spec.completionMode == nil { spec.completionMode = .nonIndexed }
        if spec.suspend == nil { spec.suspend = false }
        if spec.json["podReplacementPolicy"] == nil {
            spec.json["podReplacementPolicy"] = spec.json["podFailurePolicy"] == nil ? "TerminatingOrFailed" : "Failed"
        }
        withChild(&spec.template.json, "spec") { PodRules.defaultPodSpec(&$0) }
    }

    /// The selector Kubernetes generates from the Job's uid, and the labels it puts on the template.
    static func generateSelector(_ spec: inout JobSpec, uid: String, jobName: String) {
        var labels = spec.template.metadata.labels ?? [:]
        labels[controllerUIDLabel] = uid
        labels[legacyControllerUIDLabel] = uid
        labels[jobNameLabel] = jobName
        labels[legacyJobNameLabel] = jobName
        spec.template.metadata.labels = labels
        if spec.json["selector"] == nil || spec.json["selector"]!.isNull {
            var selector = LabelSelectorSpec()
            selector.matchLabels = [controllerUIDLabel: uid]
            spec.selector = selector
        }
    }

    static func validateJobSpec(_ spec: JobSpec, path: String) -> [FieldError] {
        var errs: [FieldError] = []
        for key in ["parallelism", "completions", "backoffLimit", "ttlSecondsAfterFinished"] {
            checkNonNegative(spec.json, key, path: path, into: &errs)
        }
        if let d = spec.activeDeadlineSeconds, d <= 0 {
            errs.append(FieldError(.invalid, field: "\(path).activeDeadlineSeconds", value: String(d), detail: "must be greater than 0", rawValue: true))
        }
        checkOneOf(spec.json, "completionMode", path: path, ["NonIndexed", "Indexed"], into: &errs)
        if spec.completionMode == .indexed {
            if spec.completions == nil {
                errs.append(FieldError(.required, field: "\(path).completions", detail: "when completion mode is Indexed"))
            } else if let c = spec.completions, c > 100_000 {
                errs.append(FieldError(.invalid, field: "\(path).completions", value: String(c), detail: "must be less than or equal to 100000 when completion mode is Indexed", rawValue: true))
            }
        }
        guard case .object = spec.json["template"] ?? .null else {
            errs.append(FieldError(.required, field: "\(path).template", detail: ""))
            return errs
        }
        let podSpec = spec.template.spec
        if podSpec.restartPolicy == nil {
            errs.append(FieldError(.required, field: "\(path).template.spec.restartPolicy", detail: "valid values: \"OnFailure\", \"Never\""))
        } else {
            checkOneOf(podSpec.json, "restartPolicy", path: "\(path).template.spec", ["OnFailure", "Never"], into: &errs)
        }
        errs += PodRules.validatePodSpec(spec.template.json["spec"], path: "\(path).template.spec")
        errs += validateLabelMap(spec.template.json["metadata"]?["labels"], path: "\(path).template.metadata.labels")
        if spec.manualSelector == true {
            if spec.json["selector"] == nil {
                errs.append(FieldError(.required, field: "\(path).selector", detail: ""))
            } else if let sel = try? labelSelector(from: spec.json["selector"]), !sel.matches(spec.template.metadata.labels ?? [:]) {
                errs.append(FieldError(.invalid, field: "\(path).template.metadata.labels", value: WorkloadRules.labelString(spec.template.metadata.labels ?? [:]),
                                       detail: "`selector` does not match template `labels`"))
            }
        }
        errs += validatePodFailurePolicy(spec.podFailurePolicy, restartPolicy: podSpec.restartPolicy, path: "\(path).podFailurePolicy")
        return errs
    }

    static func validatePodFailurePolicy(_ policy: PodFailurePolicy, restartPolicy: RestartPolicy?, path: String) -> [FieldError] {
        guard policy.json != .object(JSONObject()), policy.json["rules"] != nil || !policy.rules.isEmpty else { return [] }
        var errs: [FieldError] = []
        if restartPolicy != .never {
            errs.append(FieldError(.invalid, field: "spec.template.spec.restartPolicy", value: restartPolicy?.rawValue ?? "",
                                   detail: "only \"Never\" is supported when podFailurePolicy is specified"))
        }
        for (i, rule) in policy.rules.enumerated() {
            let at = "\(path).rules[\(i)]"
            switch rule.action {
            case .failJob, .ignore, .count: break
            case .failIndex:
                errs.append(FieldError(.forbidden, field: "\(at).action", detail: "FailIndex needs backoffLimitPerIndex, which is not supported"))
            case .other(let a)?:
                errs.append(FieldError(.notSupported, field: "\(at).action", value: a, detail: "supported values: \"Count\", \"FailIndex\", \"FailJob\", \"Ignore\""))
            case nil:
                errs.append(FieldError(.required, field: "\(at).action", detail: ""))
            }
            let hasCodes = rule.json["onExitCodes"] != nil, hasConditions = !rule.onPodConditions.isEmpty
            if hasCodes == hasConditions {
                errs.append(FieldError(.invalid, field: at, value: "", detail: "specifying one of onExitCodes and onPodConditions is required"))
            }
            if hasCodes {
                let codes = rule.onExitCodes
                let values = codes.values ?? []
                if codes.op != .in && codes.op != .notIn {
                    errs.append(FieldError(.notSupported, field: "\(at).onExitCodes.operator", value: codes.op?.rawValue ?? "", detail: "supported values: \"In\", \"NotIn\""))
                }
                if values.isEmpty { errs.append(FieldError(.required, field: "\(at).onExitCodes.values", detail: "at least one value is required")) }
                if codes.op == .in, values.contains(0) {
                    errs.append(FieldError(.invalid, field: "\(at).onExitCodes.values", value: "0", detail: "must not be 0 for the In operator", rawValue: true))
                }
                if Set(values).count != values.count {
                    errs.append(FieldError(.duplicate, field: "\(at).onExitCodes.values", value: "", detail: ""))
                }
            }
        }
        return errs
    }

    static func validateCronJob(_ cj: CronJob) -> [FieldError] {
        guard case .object = cj.json["spec"] ?? .null else { return [FieldError(.required, field: "spec", detail: "")] }
        var errs: [FieldError] = []
        let spec = cj.spec
        if let schedule = spec.schedule, !schedule.isEmpty {
            if let problem = scheduleProblem(schedule) {
                errs.append(FieldError(.invalid, field: "spec.schedule", value: schedule, detail: problem))
            }
        } else {
            errs.append(FieldError(.required, field: "spec.schedule", detail: ""))
        }
        if let tz = spec.timeZone, timeZone(named: tz) == nil {
            errs.append(FieldError(.invalid, field: "spec.timeZone", value: tz, detail: "unknown time zone \(tz)"))
        }
        checkOneOf(spec.json, "concurrencyPolicy", path: "spec", ["Allow", "Forbid", "Replace"], into: &errs)
        for key in ["startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"] {
            checkNonNegative(spec.json, key, path: "spec", into: &errs)
        }
        var jobSpec = spec.jobTemplate.spec
        defaultJobSpec(&jobSpec)   // validated as the Job it will become
        errs += validateJobSpec(jobSpec, path: "spec.jobTemplate.spec")
        return errs
    }

    /// Why a schedule does not parse, or nil.
    static func scheduleProblem(_ schedule: String) -> String? {
        do {
            _ = try CronSchedule(parsing: schedule)
            return nil
        } catch {
            return error.message
        }
    }

    /// An explicit IANA zone ("Europe/Berlin", "Etc/UTC", "UTC"); "Local" and abbreviations are refused.
    public static func timeZone(named name: String) -> TimeZone? {
        guard name == "UTC" || TimeZone.knownTimeZoneIdentifiers.contains(name) else { return nil }
        return TimeZone(identifier: name)
    }
}
