// Server-side printing for `kubectl get` (meta.k8s.io/v1 Table): the columns Kubernetes shows
// per kind, with priority-1 columns for `-o wide`. Cells are final strings (kubectl prints them).
import API
import Foundation

struct TableColumn {
    var name: String
    var type = "string"
    var format = ""
    var priority = 0
    var description = ""

    var json: JSONValue {
        ["name": .string(name), "type": .string(type), "format": .string(format), "description": .string(description), "priority": .int(Int64(priority))]
    }
}

enum Tables {
    static func columns(for kind: String) -> [TableColumn] {
        let name = TableColumn(name: "Name", format: "name", description: "Name must be unique within a namespace.")
        let age = TableColumn(name: "Age", description: "CreationTimestamp is a timestamp representing the server time when this object was created.")
        switch kind {
        case "Pod":
            return [name, TableColumn(name: "Ready"), TableColumn(name: "Status"), TableColumn(name: "Restarts"), age,
                    TableColumn(name: "IP", priority: 1), TableColumn(name: "Node", priority: 1),
                    TableColumn(name: "Nominated Node", priority: 1), TableColumn(name: "Readiness Gates", priority: 1)]
        case "Namespace": return [name, TableColumn(name: "Status"), age]
        case "Node":
            return [name, TableColumn(name: "Status"), TableColumn(name: "Roles"), age, TableColumn(name: "Version"),
                    TableColumn(name: "Internal-IP", priority: 1), TableColumn(name: "External-IP", priority: 1),
                    TableColumn(name: "OS-Image", priority: 1), TableColumn(name: "Kernel-Version", priority: 1),
                    TableColumn(name: "Container-Runtime", priority: 1)]
        case "Service":
            return [name, TableColumn(name: "Type"), TableColumn(name: "Cluster-IP"), TableColumn(name: "External-IP"),
                    TableColumn(name: "Port(s)"), age, TableColumn(name: "Selector", priority: 1)]
        case "Endpoints": return [name, TableColumn(name: "Endpoints"), age]
        case "ConfigMap": return [name, TableColumn(name: "Data", type: "integer"), age]
        case "Secret": return [name, TableColumn(name: "Type"), TableColumn(name: "Data", type: "integer"), age]
        case "Event":
            return [TableColumn(name: "Last Seen"), TableColumn(name: "Type"), TableColumn(name: "Reason"),
                    TableColumn(name: "Object"), TableColumn(name: "Message")]
        case "ReplicaSet", "ReplicationController":
            return [name, TableColumn(name: "Desired", type: "integer"), TableColumn(name: "Current", type: "integer"),
                    TableColumn(name: "Ready", type: "integer"), age, TableColumn(name: "Containers", priority: 1),
                    TableColumn(name: "Images", priority: 1), TableColumn(name: "Selector", priority: 1)]
        case "Deployment":
            return [name, TableColumn(name: "Ready"), TableColumn(name: "Up-to-date", type: "integer"),
                    TableColumn(name: "Available", type: "integer"), age, TableColumn(name: "Containers", priority: 1),
                    TableColumn(name: "Images", priority: 1), TableColumn(name: "Selector", priority: 1)]
        case "Lease": return [name, TableColumn(name: "Holder"), age]
        case "EndpointSlice":
            return [name, TableColumn(name: "AddressType"), TableColumn(name: "Ports"), TableColumn(name: "Endpoints"), age]
        case "Job", "CronJob": return batchColumns(kind, name: name, age: age)
        case "DaemonSet", "ControllerRevision", "StatefulSet": return appsColumns(kind, name: name, age: age)
        case "PersistentVolumeClaim", "PersistentVolume", "StorageClass": return storageColumns(kind, name: name, age: age)
        case "PodDisruptionBudget": return policyColumns(name: name, age: age)
        case "HorizontalPodAutoscaler": return autoscalingColumns(name: name, age: age)
        case "APIService": return apiServiceColumns(name: name, age: age)
        case "CustomResourceDefinition": return definitionColumns
        default: return governanceColumns(kind, name: name, age: age) ?? [name, age]
        }
    }

    static func cells(for o: JSONValue, kind: String, now: Date = Date()) -> [JSONValue] {
        let meta = o["metadata"] ?? .null
        let name = JSONValue.string(meta["name"]?.stringValue ?? "")
        let age = JSONValue.string(ageString(meta["creationTimestamp"]?.stringValue, now: now))
        let spec = o["spec"] ?? .null
        let status = o["status"] ?? .null
        func s(_ v: String) -> JSONValue { .string(v) }
        func n(_ v: Int64?) -> JSONValue { .int(v ?? 0) }
        switch kind {
        case "Pod":
            let statuses = status["containerStatuses"]?.arrayValue ?? []
            let total = spec["containers"]?.arrayValue?.count ?? 0
            let ready = statuses.filter { $0["ready"]?.boolValue == true }.count
            let restarts = statuses.reduce(Int64(0)) { $0 + ($1["restartCount"]?.intValue ?? 0) }
            let gates = spec["readinessGates"]?.arrayValue ?? []
            return [name, s("\(ready)/\(total)"), s(podStatus(o)), s(String(restarts)), age,
                    s(status["podIP"]?.stringValue ?? "<none>"), s(spec["nodeName"]?.stringValue ?? "<none>"),
                    s(status["nominatedNodeName"]?.stringValue ?? "<none>"), s(gates.isEmpty ? "<none>" : "0/\(gates.count)")]
        case "Namespace": return [name, s(status["phase"]?.stringValue ?? ""), age]
        case "Node":
            let conditions = status["conditions"]?.arrayValue ?? []
            var state = "Unknown"
            if let ready = conditions.first(where: { $0["type"]?.stringValue == "Ready" }) {
                state = ready["status"]?.stringValue == "True" ? "Ready" : (ready["status"]?.stringValue == "False" ? "NotReady" : "Unknown")
            }
            if spec["unschedulable"]?.boolValue == true { state += ",SchedulingDisabled" }
            let roles = (meta["labels"]?.stringMap ?? [:]).keys.filter { $0.hasPrefix("node-role.kubernetes.io/") }
                .map { String($0.dropFirst("node-role.kubernetes.io/".count)) }.sorted()
            let addrs = status["addresses"]?.arrayValue ?? []
            func addr(_ t: String) -> String { addrs.first { $0["type"]?.stringValue == t }?["address"]?.stringValue ?? "<none>" }
            let info = status["nodeInfo"] ?? .null
            return [name, s(state), s(roles.isEmpty ? "<none>" : roles.joined(separator: ",")), age,
                    s(info["kubeletVersion"]?.stringValue ?? ""), s(addr("InternalIP")), s(addr("ExternalIP")),
                    s(info["osImage"]?.stringValue ?? "<unknown>"), s(info["kernelVersion"]?.stringValue ?? "<unknown>"),
                    s(info["containerRuntimeVersion"]?.stringValue ?? "<unknown>")]
        case "Service":
            let type = spec["type"]?.stringValue ?? "ClusterIP"
            let ports = (spec["ports"]?.arrayValue ?? []).map { p -> String in
                let port = p["port"]?.intValue ?? 0
                let proto = p["protocol"]?.stringValue ?? "TCP"
                if let np = p["nodePort"]?.intValue { return "\(port):\(np)/\(proto)" }
                return "\(port)/\(proto)"
            }
            var external = "<none>"
            if type == "ExternalName" { external = spec["externalName"]?.stringValue ?? "<none>" }
            else if let ips = spec["externalIPs"]?.arrayValue, !ips.isEmpty { external = ips.compactMap(\.stringValue).joined(separator: ",") }
            else if type == "LoadBalancer" { external = "<pending>" }
            return [name, s(type), s(spec["clusterIP"]?.stringValue ?? "<none>"), s(external),
                    s(ports.isEmpty ? "<none>" : ports.joined(separator: ",")), age, s(selectorString(spec["selector"]?.stringMap))]
        case "Endpoints":
            var eps: [String] = []
            for subset in o["subsets"]?.arrayValue ?? [] {
                let ports = (subset["ports"]?.arrayValue ?? []).compactMap { $0["port"]?.intValue }
                for a in subset["addresses"]?.arrayValue ?? [] {
                    let ip = a["ip"]?.stringValue ?? ""
                    if ports.isEmpty { eps.append(ip) } else { eps += ports.map { "\(ip):\($0)" } }
                }
            }
            let shown = eps.count > 3 ? eps.prefix(3).joined(separator: ",") + " + \(eps.count - 3) more..." : eps.joined(separator: ",")
            return [name, s(eps.isEmpty ? "<none>" : shown), age]
        case "ConfigMap":
            return [name, n(Int64((o["data"]?.objectValue?.count ?? 0) + (o["binaryData"]?.objectValue?.count ?? 0))), age]
        case "Secret": return [name, s(o["type"]?.stringValue ?? ""), n(Int64(o["data"]?.objectValue?.count ?? 0)), age]
        case "Event":
            let last = o["lastTimestamp"]?.stringValue ?? o["eventTime"]?.stringValue ?? meta["creationTimestamp"]?.stringValue
            let involved = o["involvedObject"] ?? .null
            let object = "\((involved["kind"]?.stringValue ?? "").lowercased())/\(involved["name"]?.stringValue ?? "")"
            return [s(ageString(last, now: now)), s(o["type"]?.stringValue ?? ""), s(o["reason"]?.stringValue ?? ""), s(object),
                    s(o["message"]?.stringValue ?? "")]
        case "ReplicaSet", "ReplicationController", "Deployment":
            let template = spec["template"]?["spec"]?["containers"]?.arrayValue ?? []
            let containers = s(template.compactMap { $0["name"]?.stringValue }.joined(separator: ","))
            let images = s(template.compactMap { $0["image"]?.stringValue }.joined(separator: ","))
            let selector: String
            if kind == "ReplicationController" { selector = selectorString(spec["selector"]?.stringMap) }
            else { selector = (try? labelSelector(from: spec["selector"]))?.description ?? "" }
            if kind == "Deployment" {
                return [name, s("\(status["readyReplicas"]?.intValue ?? 0)/\(spec["replicas"]?.intValue ?? 0)"),
                        n(status["updatedReplicas"]?.intValue), n(status["availableReplicas"]?.intValue), age, containers, images, s(selector)]
            }
            return [name, n(spec["replicas"]?.intValue), n(status["replicas"]?.intValue), n(status["readyReplicas"]?.intValue),
                    age, containers, images, s(selector)]
        case "Lease": return [name, s(spec["holderIdentity"]?.stringValue ?? "<unset>"), age]
        case "EndpointSlice":
            let ports = (o["ports"]?.arrayValue ?? []).compactMap { $0["port"]?.intValue }.map(String.init)
            let addrs = (o["endpoints"]?.arrayValue ?? []).flatMap { ($0["addresses"]?.arrayValue ?? []).compactMap(\.stringValue) }
            return [name, s(o["addressType"]?.stringValue ?? ""), s(ports.isEmpty ? "<unset>" : ports.joined(separator: ",")),
                    s(addrs.isEmpty ? "<unset>" : addrs.joined(separator: ",")), age]
        case "Job": return jobCells(Job(json: o), name: name, age: age, now: now)
        case "CronJob": return cronJobCells(CronJob(json: o), name: name, age: age, now: now)
        case "DaemonSet": return daemonSetCells(DaemonSet(json: o), name: name, age: age)
        case "ControllerRevision": return controllerRevisionCells(ControllerRevision(json: o), name: name, age: age)
        case "StatefulSet": return statefulSetCells(StatefulSet(json: o), name: name, age: age)
        case "PersistentVolumeClaim": return claimCells(PersistentVolumeClaim(json: o), name: name, age: age)
        case "PersistentVolume": return volumeCells(PersistentVolume(json: o), name: name, age: age)
        case "StorageClass": return storageClassCells(StorageClass(json: o), name: name, age: age)
        case "PodDisruptionBudget": return podDisruptionBudgetCells(PodDisruptionBudget(json: o), name: name, age: age)
        case "HorizontalPodAutoscaler": return horizontalPodAutoscalerCells(HorizontalPodAutoscaler(json: o), name: name, age: age)
        case "APIService": return apiServiceCells(APIService(json: o), name: name, age: age)
        default: return governanceCells(o, kind: kind, name: name, age: age) ?? [name, age]
        }
    }

    /// kubectl's STATUS for a pod: Terminating, a container's waiting/terminated reason, or the phase.
    static func podStatus(_ pod: JSONValue) -> String {
        if pod["metadata"]?["deletionTimestamp"] != nil { return "Terminating" }
        let status = pod["status"] ?? .null
        var reason = status["reason"]?.stringValue ?? status["phase"]?.stringValue ?? "Unknown"
        for cs in (status["containerStatuses"]?.arrayValue ?? []).reversed() {
            if let r = cs["state"]?["waiting"]?["reason"]?.stringValue, !r.isEmpty { reason = r }
            else if let r = cs["state"]?["terminated"]?["reason"]?.stringValue, !r.isEmpty { reason = r }
        }
        return reason
    }

    static func selectorString(_ map: [String: String]?) -> String {
        guard let map, !map.isEmpty else { return "<none>" }
        return map.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
    }

    /// k8s.io/apimachinery/pkg/util/duration.HumanDuration.
    static func ageString(_ timestamp: String?, now: Date) -> String {
        guard let timestamp, let t = ObjectCodec.parseTimestamp(timestamp) else { return "<unknown>" }
        let seconds = Int(now.timeIntervalSince(t))
        if seconds < -1 { return "<invalid>" }
        if seconds < 0 { return "0s" }
        if seconds < 120 { return "\(seconds)s" }
        let minutes = seconds / 60
        if minutes < 10 { return seconds % 60 == 0 ? "\(minutes)m" : "\(minutes)m\(seconds % 60)s" }
        if minutes < 180 { return "\(minutes)m" }
        let hours = minutes / 60
        if hours < 8 { return minutes % 60 == 0 ? "\(hours)h" : "\(hours)h\(minutes % 60)m" }
        if hours < 48 { return "\(hours)h" }
        let days = hours / 24
        if hours < 24 * 8 { return hours % 24 == 0 ? "\(days)d" : "\(days)d\(hours % 24)h" }
        if hours < 24 * 365 * 2 { return "\(days)d" }
        let years = days / 365
        if hours < 24 * 365 * 8 { return days % 365 == 0 ? "\(years)y" : "\(years)y\(days % 365)d" }
        return "\(years)y"
    }

    /// One row: its cells and the object (full, or PartialObjectMetadata by default).
    static func row(_ o: JSONValue, kind: String, custom: CustomResourceBehavior?, includeObject: String, now: Date) -> JSONValue {
        let cells = custom.map { customCells(o, $0, now: now) } ?? (kind == "CustomResourceDefinition" ? definitionCells(o) : cells(for: o, kind: kind, now: now))
        var row: JSONValue = ["cells": .array(cells)]
        switch includeObject {
        case "None": break
        case "Object": row["object"] = o
        default:
            row["object"] = ["kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"] ?? .null]
        }
        return row
    }

    static func table(_ objects: [JSONValue], kind: String, custom: CustomResourceBehavior? = nil, resourceVersion: String,
                      continueToken: String?, includeObject: String, withColumns: Bool = true) -> JSONValue {
        let now = Date()
        var meta: JSONValue = ["resourceVersion": .string(resourceVersion)]
        if let continueToken { meta["continue"] = .string(continueToken) }
        var t: JSONValue = ["kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta]
        let columns = custom.map(customColumns) ?? columns(for: kind)
        t["columnDefinitions"] = withColumns ? .array(columns.map(\.json)) : .array([])
        t["rows"] = .array(objects.map { row($0, kind: kind, custom: custom, includeObject: includeObject, now: now) })
        return t
    }
}
