// A container's environment as the kubelet builds it: envFrom sources first, then env in order,
// each value expanded with $(VAR) against what came before; command and args are expanded
// against the result. Values come from the pod itself (fieldRef, resourceFieldRef) or from
// ConfigMaps and Secrets read through an ObjectSource.
import API
import Foundation

/// Reads ConfigMaps and Secrets of the pod's namespace: nil when the object does not exist.
protocol ObjectSource {
    func object(resource: String, namespace: String, name: String) throws -> JSONValue?
    /// A service account token for a projected volume, bound to the pod.
    func token(for owner: TokenOwner, _ projection: TokenProjection) throws -> String
    /// The Services with a cluster IP (for the pod's service environment variables).
    func services() -> [ServiceLink]
}

extension ObjectSource {
    func token(for owner: TokenOwner, _ projection: TokenProjection) throws -> String {
        throw PodConfigError("cannot request a token for service account \(owner.namespace)/\(owner.serviceAccount): no API server")
    }
    func services() -> [ServiceLink] { [] }
}

/// A configuration error that keeps a container from being created (CreateContainerConfigError).
struct PodConfigError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

enum PodEnvironment {
    /// Kubernetes' $(VAR) expansion: $(NAME) becomes NAME's value when defined and stays as is
    /// otherwise; $$ is a literal $.
    static func expand(_ input: String, _ vars: [String: String]) -> String {
        guard input.contains("$") else { return input }
        var out = ""
        var i = input.startIndex
        while i < input.endIndex {
            let ch = input[i]
            let next = input.index(after: i)
            guard ch == "$", next < input.endIndex else { out.append(ch); i = next; continue }
            if input[next] == "$" { out.append("$"); i = input.index(after: next); continue }
            if input[next] == "(", let close = input[next...].firstIndex(of: ")") {
                let name = String(input[input.index(after: next)..<close])
                if let v = vars[name] { out += v } else { out += "$(" + name + ")" }
                i = input.index(after: close)
                continue
            }
            out.append(ch)
            i = next
        }
        return out
    }

    /// NAME=value entries in order (later duplicates replace earlier ones in place).
    static func build(container c: JSONValue, pod: JSONValue, objects: ObjectSource, nodeAllocatable: (String) -> String?) throws -> [(String, String)] {
        let namespace = pod["metadata"]?["namespace"]?.stringValue ?? "default"
        var order: [String] = []
        var values: [String: String] = [:]
        func set(_ k: String, _ v: String) {
            if values[k] == nil { order.append(k) }
            values[k] = v
        }
        // Service links first: the container's own variables override them and may refer to them.
        let links = ServiceEnvironment.visible(objects.services(), namespace: namespace,
                                               enableServiceLinks: pod["spec"]?["enableServiceLinks"]?.boolValue ?? true)
        for (k, v) in ServiceEnvironment.variables(links) { set(k, v) }
        for (i, source) in (c["envFrom"]?.arrayValue ?? []).enumerated() {
            let prefix = source["prefix"]?.stringValue ?? ""
            let (resource, ref) = source["configMapRef"] != nil ? ("configmaps", source["configMapRef"]) : ("secrets", source["secretRef"])
            guard let ref, let name = ref["name"]?.stringValue else { continue }
            guard let obj = try objects.object(resource: resource, namespace: namespace, name: name) else {
                if ref["optional"]?.boolValue == true { continue }
                throw PodConfigError("\(resource == "configmaps" ? "configmap" : "secret") \"\(name)\" not found (envFrom[\(i)])")
            }
            for (k, v) in dataEntries(obj, secret: resource == "secrets") where isEnvName(prefix + k) {
                set(prefix + k, String(decoding: v, as: UTF8.self))
            }
        }
        for (i, e) in (c["env"]?.arrayValue ?? []).enumerated() {
            guard let name = e["name"]?.stringValue else { continue }
            if let from = e["valueFrom"] {
                if let v = try valueFrom(from, container: c, pod: pod, objects: objects, nodeAllocatable: nodeAllocatable, field: "env[\(i)] \(name)") {
                    set(name, v)
                }
            } else {
                set(name, expand(e["value"]?.stringValue ?? "", values))
            }
        }
        return order.compactMap { k in values[k].map { (k, $0) } }
    }

    static func valueFrom(_ from: JSONValue, container: JSONValue, pod: JSONValue, objects: ObjectSource,
                          nodeAllocatable: (String) -> String?, field: String) throws -> String? {
        let namespace = pod["metadata"]?["namespace"]?.stringValue ?? "default"
        if let f = from["fieldRef"] {
            return try fieldValue(f["fieldPath"]?.stringValue ?? "", pod: pod, field: field)
        }
        if let r = from["resourceFieldRef"] {
            let target = r["containerName"]?.stringValue.flatMap { name in
                (pod["spec"]?["containers"]?.arrayValue ?? []).first { $0["name"]?.stringValue == name }
            } ?? container
            return try resourceValue(r, container: target, nodeAllocatable: nodeAllocatable, field: field)
        }
        for (key, resource) in [("configMapKeyRef", "configmaps"), ("secretKeyRef", "secrets")] {
            guard let ref = from[key] else { continue }
            let name = ref["name"]?.stringValue ?? "", item = ref["key"]?.stringValue ?? ""
            let optional = ref["optional"]?.boolValue == true
            let kind = resource == "configmaps" ? "configmap" : "secret"
            guard let obj = try objects.object(resource: resource, namespace: namespace, name: name) else {
                if optional { return nil }
                throw PodConfigError("\(kind) \"\(name)\" not found (\(field))")
            }
            guard let bytes = dataEntries(obj, secret: resource == "secrets").first(where: { $0.0 == item })?.1 else {
                if optional { return nil }
                throw PodConfigError("couldn't find key \(item) in \(kind) \(namespace)/\(name) (\(field))")
            }
            return String(decoding: bytes, as: UTF8.self)
        }
        return nil
    }

    /// The downward API's pod fields (env fieldRef and downwardAPI volume items).
    static func fieldValue(_ path: String, pod: JSONValue, field: String) throws -> String {
        let meta = pod["metadata"] ?? .null
        func mapEntry(_ map: String, _ prefix: String) -> String? {
            guard path.hasPrefix(prefix + "['"), path.hasSuffix("']") else { return nil }
            let key = String(path.dropFirst(prefix.count + 2).dropLast(2))
            return meta[map]?[key]?.stringValue ?? ""
        }
        switch path {
        case "metadata.name": return meta["name"]?.stringValue ?? ""
        case "metadata.namespace": return meta["namespace"]?.stringValue ?? ""
        case "metadata.uid": return meta["uid"]?.stringValue ?? ""
        case "metadata.labels": return formatMap(meta["labels"])
        case "metadata.annotations": return formatMap(meta["annotations"])
        case "spec.nodeName": return pod["spec"]?["nodeName"]?.stringValue ?? ""
        case "spec.serviceAccountName": return pod["spec"]?["serviceAccountName"]?.stringValue ?? ""
        case "status.hostIP": return NodeInfo.hostIP()
        case "status.hostIPs": return NodeInfo.hostIP()
        case "status.podIP", "status.podIPs": return PodNetwork.podIP(pod) ?? ""
        default:
            if let v = mapEntry("labels", "metadata.labels") ?? mapEntry("annotations", "metadata.annotations") { return v }
            throw PodConfigError("unsupported fieldPath \"\(path)\" (\(field))")
        }
    }

    /// limits/requests of cpu, memory or ephemeral-storage divided by the divisor, rounded up;
    /// an unset limit is the node's allocatable amount, as in the kubelet.
    static func resourceValue(_ ref: JSONValue, container: JSONValue, nodeAllocatable: (String) -> String?, field: String) throws -> String {
        let resource = ref["resource"]?.stringValue ?? ""
        let parts = resource.split(separator: ".", maxSplits: 1).map(String.init)
        guard parts.count == 2, parts[0] == "limits" || parts[0] == "requests" else {
            throw PodConfigError("unsupported resource \"\(resource)\" (\(field))")
        }
        var text = container["resources"]?[parts[0]]?[parts[1]]?.stringValue
        if text == nil && parts[0] == "requests" { text = container["resources"]?["limits"]?[parts[1]]?.stringValue }
        if text == nil && parts[0] == "limits" { text = nodeAllocatable(parts[1]) }
        let quantity = try Quantity(parsing: text ?? "0")
        let divisor = try Quantity(parsing: ref["divisor"]?.stringValue ?? "1")
        if parts[1] == "cpu" {
            let d = max(divisor.milliValue, 1)
            let m = quantity.milliValue
            return String((m + d - 1) / d)
        }
        let d = max(divisor.value, 1)
        return String((quantity.value + d - 1) / d)
    }

    /// key="value" lines, sorted by key (the downward API's label/annotation format).
    static func formatMap(_ map: JSONValue?) -> String {
        let entries = (map?.objectValue ?? JSONObject()).map { ($0.key, $0.value.stringValue ?? "") }.sorted { $0.0 < $1.0 }
        return entries.map { k, v in
            let escaped = v.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                .replacingOccurrences(of: "\n", with: "\\n")
            return "\(k)=\"\(escaped)\""
        }.joined(separator: "\n")
    }

    /// A ConfigMap's data + binaryData, or a Secret's decoded data, as (key, bytes).
    static func dataEntries(_ obj: JSONValue, secret: Bool) -> [(String, [UInt8])] {
        var out: [(String, [UInt8])] = []
        for (k, v) in obj["data"]?.objectValue ?? JSONObject() {
            guard let s = v.stringValue else { continue }
            if secret {
                if let d = Data(base64Encoded: s) { out.append((k, [UInt8](d))) }
            } else {
                out.append((k, Array(s.utf8)))
            }
        }
        if !secret {
            for (k, v) in obj["binaryData"]?.objectValue ?? JSONObject() {
                if let s = v.stringValue, let d = Data(base64Encoded: s) { out.append((k, [UInt8](d))) }
            }
        }
        return out
    }

    /// C_IDENTIFIER-like names the kubelet accepts from envFrom (others are skipped).
    static func isEnvName(_ s: String) -> Bool {
        guard let first = s.utf8.first, !(first >= 48 && first <= 57) else { return false }
        return s.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 95 || $0 == 45 || $0 == 46 }
    }
}
