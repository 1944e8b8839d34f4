// `kubectl get jobs` and `kubectl get cronjobs` columns, as Kubernetes prints them.
import API
import Foundation

extension Tables {
    static func batchColumns(_ kind: String, name: TableColumn, age: TableColumn) -> [TableColumn] {
        let wide = [TableColumn(name: "Containers", priority: 1), TableColumn(name: "Images", priority: 1),
                    TableColumn(name: "Selector", priority: 1)]
        if kind == "Job" {
            return [name, TableColumn(name: "Status"), TableColumn(name: "Completions"), TableColumn(name: "Duration"), age] + wide
        }
        return [name, TableColumn(name: "Schedule"), TableColumn(name: "Timezone"), TableColumn(name: "Suspend", type: "boolean"),
                TableColumn(name: "Active", type: "integer"), TableColumn(name: "Last Schedule"), age] + wide
    }

    static func containerCells(_ spec: PodSpec) -> [JSONValue] {
        [.string(spec.containers.compactMap(\.name).joined(separator: ",")), .string(spec.containers.compactMap(\.image).joined(separator: ","))]
    }

    static func jobCells(_ job: Job, name: JSONValue, age: JSONValue, now: Date) -> [JSONValue] {
        let conditions = job.status.conditions.filter { $0.status == .true }
        var state = "Running"
        if job.isBeingDeleted { state = "Terminating" }
        else if conditions.contains(where: { $0.type == .complete }) { state = "Complete" }
        else if conditions.contains(where: { $0.type == .failed }) { state = "Failed" }
        else if conditions.contains(where: { $0.type == .suspended }) { state = "Suspended" }
        else if conditions.contains(where: { $0.type == .failureTarget }) { state = "FailureTarget" }
        else if conditions.contains(where: { $0.type == .successCriteriaMet }) { state = "SuccessCriteriaMet" }
        let succeeded = job.status.succeeded ?? 0
        let completions: String
        if let c = job.spec.completions { completions = "\(succeeded)/\(c)" }
        else if let p = job.spec.parallelism, p > 1 { completions = "\(succeeded)/1 of \(p)" }
        else { completions = "\(succeeded)/1" }
        var duration = ""
        if let start = job.status.startTime {
            let end = job.status.completionTime ?? now
            duration = ageString(KubeTime.format(start), now: end)
        }
        let selector = (try? labelSelector(from: job.spec.json["selector"]))?.description ?? "<none>"
        return [name, .string(state), .string(completions), .string(duration), age] + containerCells(job.spec.template.spec)
            + [.string(selector.isEmpty ? "<none>" : selector)]
    }

    static func cronJobCells(_ cj: CronJob, name: JSONValue, age: JSONValue, now: Date) -> [JSONValue] {
        let last = cj.status.lastScheduleTime.map { ageString(KubeTime.format($0), now: now) } ?? "<none>"
        let selector = (try? labelSelector(from: cj.spec.jobTemplate.spec.json["selector"]))?.description ?? ""
        return [name, .string(cj.spec.schedule ?? ""), .string(cj.spec.timeZone ?? "<none>"), .bool(cj.spec.suspend ?? false),
                .int(Int64(cj.status.active.count)), .string(last), age] + containerCells(cj.spec.jobTemplate.spec.template.spec)
            + [.string(selector.isEmpty ? "<none>" : selector)]
    }
}
