// Pod defaulting and validation (k8s.io/kubernetes/pkg/apis/core/v1/defaults.go and
// validation.go), also used for the pod templates of ReplicaSets, Deployments and RCs.
import Foundation

public enum PodRules {
    public static let strategy: ResourceStrategy = {
        var s = ResourceStrategy()
        s.hasStatus = true
        s.applyDefaults = { pod in
            withChild(&pod, "spec", create: true) { defaultPodSpec(&$0) }
            withChild(&pod, "status", create: true) { status in
                setDefault(&status, ["phase"], "Pending")
            }
            setQOSClass(&pod)
        }
        s.validate = { pod in validatePodSpec(pod["spec"], path: "spec") }
        s.validateUpdate = { new, old in
            // Only a few spec fields may change on a pod (images, activeDeadlineSeconds, tolerations...).
            // (Ephemeral containers change only through pods/ephemeralcontainers: a main update keeps them.)
            guard var newSpec = new["spec"], var oldSpec = old["spec"] else { return [] }
            let ephemeral = validateEphemeralContainersUpdate(new, old)
            for key in ["activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds", "ephemeralContainers"] { newSpec[key] = nil; oldSpec[key] = nil }
            for key in ["containers", "initContainers"] {
                guard case .array(var n)? = newSpec[key], case .array(var o)? = oldSpec[key], n.count == o.count else { continue }
                for i in n.indices { n[i]["image"] = nil; o[i]["image"] = nil }
                newSpec[key] = .array(n); oldSpec[key] = .array(o)
            }
            if newSpec != oldSpec {
                return ephemeral + [FieldError(.forbidden, field: "spec", detail: "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)")]
            }
            return ephemeral
        }
        s.selectableFieldNames = ["spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
                                  "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"]
        s.selectableFields = { pod in
            [
                "spec.nodeName": pod["spec"]?["nodeName"]?.stringValue ?? "",
                "spec.restartPolicy": pod["spec"]?["restartPolicy"]?.stringValue ?? "",
                "spec.schedulerName": pod["spec"]?["schedulerName"]?.stringValue ?? "",
                "spec.serviceAccountName": pod["spec"]?["serviceAccountName"]?.stringValue ?? "",
                "spec.hostNetwork": (pod["spec"]?["hostNetwork"]?.boolValue ?? false) ? "true" : "false",
                "status.phase": pod["status"]?["phase"]?.stringValue ?? "",
                "status.podIP": pod["status"]?["podIP"]?.stringValue ?? "",
                "status.nominatedNodeName": pod["status"]?["nominatedNodeName"]?.stringValue ?? "",
            ]
        }
        return s
    }()

    public static func defaultPodSpec(_ spec: inout JSONValue) {
        setDefault(&spec, ["restartPolicy"], "Always")
        setDefault(&spec, ["terminationGracePeriodSeconds"], 30)
        setDefault(&spec, ["dnsPolicy"], "ClusterFirst")
        setDefault(&spec, ["securityContext"], .object(JSONObject()))
        setDefault(&spec, ["schedulerName"], "default-scheduler")
        setDefault(&spec, ["enableServiceLinks"], true)
        for key in ["containers", "initContainers", "ephemeralContainers"] { forEachElement(&spec, key) { defaultContainer(&$0) } }
    }

    static func defaultContainer(_ c: inout JSONValue) {
        guard case .object = c else { return }
        if c["imagePullPolicy"] == nil, let image = c["image"]?.stringValue {
            c["imagePullPolicy"] = .string(pullPolicyDefault(image: image))
        }
        setDefault(&c, ["terminationMessagePath"], "/dev/termination-log")
        setDefault(&c, ["terminationMessagePolicy"], "File")
        setDefault(&c, ["resources"], .object(JSONObject()))
        forEachElement(&c, "ports") { setDefault(&$0, ["protocol"], "TCP") }
        // Limits without requests: requests default to the limits.
        if let limits = c["resources"]?["limits"]?.objectValue {
            withChild(&c, "resources") { res in
                var requests = res["requests"]?.objectValue ?? JSONObject()
                for (k, v) in limits where requests[k] == nil { requests[k] = v }
                res["requests"] = .object(requests)
            }
        }
    }

    /// `Always` for `:latest` or untagged images, else `IfNotPresent` (digests count as tags).
    public static func pullPolicyDefault(image: String) -> String {
        if image.contains("@") { return "IfNotPresent" }
        let lastComponent = image.split(separator: "/").last.map(String.init) ?? image
        guard let colon = lastComponent.lastIndex(of: ":") else { return "Always" }
        return lastComponent[lastComponent.index(after: colon)...] == "latest" ? "Always" : "IfNotPresent"
    }

    /// status.qosClass from the spec (again after admission has set requests and limits).
    public static func setQOSClass(_ pod: inout JSONValue) {
        if let spec = pod["spec"] { pod["status"]?["qosClass"] = .string(qosClass(spec)) }
    }

    /// ComputePodQOS: BestEffort when no container asks for or caps cpu or memory (above zero);
    /// Guaranteed when every container caps both and the pod's requests equal its limits; else Burstable.
    public static func qosClass(_ spec: JSONValue) -> String {
        let s = PodSpec(json: spec)
        var requests = ResourceList(), limits = ResourceList()
        var guaranteed = true
        for c in s.containers + s.initContainers {
            func compute(_ map: [String: String]?) -> ResourceList {
                ResourceList(parsing: map).filter { ($0.key == ResourceName.cpu || $0.key == ResourceName.memory) && $0.value > .zero }
            }
            let r = compute(c.resources.requests), l = compute(c.resources.limits)
            requests = requests.adding(r)
            limits = limits.adding(l)
            if l[ResourceName.cpu] == nil || l[ResourceName.memory] == nil { guaranteed = false }
        }
        if requests.isEmpty && limits.isEmpty { return "BestEffort" }
        if guaranteed, requests.allSatisfy({ limits[$0.key] == $0.value }), requests.count == limits.count { return "Guaranteed" }
        return "Burstable"
    }

    // MARK: validation

    /// `extraVolumes`: names volumeMounts may also use (a StatefulSet's claim templates).
    public static func validatePodSpec(_ spec: JSONValue?, path: String, extraVolumes: Set<String> = []) -> [FieldError] {
        guard let spec, case .object = spec else { return [FieldError(.required, field: path, detail: "")] }
        var errs: [FieldError] = []
        var volumeNames = Set<String>()
        for (i, v) in (spec["volumes"]?.arrayValue ?? []).enumerated() {
            let p = "\(path).volumes[\(i)]"
            guard let name = requireString(v, "name", path: p, into: &errs) else { continue }
            errs += NameValidation.dns1123Label(name, field: p + ".name")
            if !volumeNames.insert(name).inserted { errs.append(FieldError(.duplicate, field: p + ".name", value: name, detail: "")) }
        }
        var containerNames = Set<String>()
        let containers = spec["containers"]?.arrayValue ?? []
        if containers.isEmpty { errs.append(FieldError(.required, field: "\(path).containers", detail: "")) }
        for key in ["initContainers", "containers"] {
            for (i, c) in (spec[key]?.arrayValue ?? []).enumerated() {
                errs += validateContainer(c, path: "\(path).\(key)[\(i)]", names: &containerNames, volumes: volumeNames.union(extraVolumes))
            }
        }
        errs += validateEphemeralContainers(spec, path: path, names: &containerNames, volumes: volumeNames)
        checkOneOf(spec, "restartPolicy", path: path, ["Always", "OnFailure", "Never"], into: &errs)
        checkOneOf(spec, "dnsPolicy", path: path, ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"], into: &errs)
        errs += validateDNS(spec, path: path)
        checkNonNegative(spec, "terminationGracePeriodSeconds", path: path, into: &errs)
        checkType(spec, "nodeName", path: path, expect: "string", into: &errs)
        checkType(spec, "hostNetwork", path: path, expect: "boolean", into: &errs)
        errs += validateLabelMap(spec["nodeSelector"], path: "\(path).nodeSelector")
        return errs
    }

    static func validateContainer(_ c: JSONValue, path: String, names: inout Set<String>, volumes: Set<String>) -> [FieldError] {
        guard case .object = c else { return [FieldError(.invalid, field: path, value: c.jsonString, detail: "must be an object")] }
        var errs: [FieldError] = []
        if let name = requireString(c, "name", path: path, into: &errs) {
            errs += NameValidation.dns1123Label(name, field: path + ".name")
            if !names.insert(name).inserted { errs.append(FieldError(.duplicate, field: path + ".name", value: name, detail: "")) }
        }
        _ = requireString(c, "image", path: path, into: &errs)
        checkOneOf(c, "imagePullPolicy", path: path, ["Always", "IfNotPresent", "Never"], into: &errs)
        for key in ["command", "args"] {
            if let v = c[key], !v.isNull, v.arrayValue?.allSatisfy({ $0.stringValue != nil }) != true {
                errs.append(FieldError(.invalid, field: "\(path).\(key)", value: v.stringValue ?? v.jsonString, detail: "must be a list of strings"))
            }
        }
        var portNames = Set<String>()
        for (i, p) in (c["ports"]?.arrayValue ?? []).enumerated() {
            let pp = "\(path).ports[\(i)]"
            errs += validatePort(p, key: "containerPort", path: pp, required: true)
            errs += validatePort(p, key: "hostPort", path: pp, required: false)
            checkOneOf(p, "protocol", path: pp, ["SCTP", "TCP", "UDP"], into: &errs)
            if let name = p["name"]?.stringValue {
                errs += NameValidation.portName(name, field: pp + ".name")
                if !portNames.insert(name).inserted { errs.append(FieldError(.duplicate, field: pp + ".name", value: name, detail: "")) }
            }
        }
        for (i, e) in (c["env"]?.arrayValue ?? []).enumerated() {
            let ep = "\(path).env[\(i)]"
            if let name = requireString(e, "name", path: ep, into: &errs), name.contains("=") {
                errs.append(FieldError(.invalid, field: ep + ".name", value: name, detail: "a valid environment variable name must consist of printable ASCII characters other than '='"))
            }
        }
        for (i, m) in (c["volumeMounts"]?.arrayValue ?? []).enumerated() {
            let mp = "\(path).volumeMounts[\(i)]"
            if let name = requireString(m, "name", path: mp, into: &errs), !volumes.contains(name) {
                errs.append(FieldError(.notFound, field: mp + ".name", value: name, detail: ""))
            }
            _ = requireString(m, "mountPath", path: mp, into: &errs)
        }
        errs += validateResources(c["resources"], path: path + ".resources")
        return errs
    }

    static func validatePort(_ p: JSONValue, key: String, path: String, required: Bool) -> [FieldError] {
        guard let v = p[key], !v.isNull else { return required ? [FieldError(.required, field: "\(path).\(key)", detail: "")] : [] }
        guard let n = v.intValue, (required ? 1 : 0)...65535 ~= n else {
            return [FieldError(.invalid, field: "\(path).\(key)", value: v.intValue.map(String.init) ?? v.jsonString,
                               detail: "must be between \(required ? 1 : 0) and 65535, inclusive")]
        }
        return []
    }

    static func validateResources(_ r: JSONValue?, path: String) -> [FieldError] {
        guard let r, case .object = r else { return [] }
        var errs: [FieldError] = []
        var parsed: [String: [String: Quantity]] = [:]
        for key in ["limits", "requests"] {
            for (name, v) in r[key]?.objectValue ?? JSONObject() {
                let text: String? = v.stringValue ?? v.intValue.map(String.init) ?? { if case .double(let d) = v { return String(d) }; return nil }()
                guard let text, let q = try? Quantity(parsing: text) else {
                    errs.append(FieldError(.invalid, field: "\(path).\(key)[\(name)]", value: v.stringValue ?? v.jsonString,
                                           detail: "must match the regex ^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"))
                    continue
                }
                if q.mantissa < 0 {
                    errs.append(FieldError(.invalid, field: "\(path).\(key)[\(name)]", value: text, detail: "must be greater than or equal to 0"))
                }
                parsed[key, default: [:]][name] = q
            }
        }
        for (name, req) in parsed["requests"] ?? [:] {
            if let lim = parsed["limits"]?[name], req > lim {
                errs.append(FieldError(.invalid, field: "\(path).requests", value: req.description, detail: "must be less than or equal to \(name) limit of \(lim.description)"))
            }
        }
        return errs
    }
}

extension Pod {
    /// The Ready condition is True: what Kubernetes counts as a healthy pod.
    public var isReady: Bool { status.conditions.contains { $0.type == "Ready" && $0.status == .true } }
    /// Succeeded or Failed: its containers will not run again.
    public var isTerminal: Bool { status.phase == .succeeded || status.phase == .failed }
}

extension PodStatus {
    /// podutil.UpdatePodCondition: adds or updates the condition of that type.
    public mutating func setCondition(_ type: String, _ status: ConditionStatus, reason: String?, message: String?, now: Date) {
        conditions.set(type, status, reason: reason, message: message, now: now)
    }
}
