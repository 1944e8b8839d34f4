// The Pod Security Standards (baseline, restricted) as Kubernetes' PodSecurity admission checks
// them: a namespace labelled pod-security.kubernetes.io/enforce=<level> refuses pods that break
// its level, with the same wording ("violates PodSecurity "baseline:latest": host namespaces
// (hostNetwork=true), ..."). Pure: the API server applies it.

public enum PodSecurity {
    public enum Level: String, Sendable, CaseIterable {
        case privileged, baseline, restricted
    }

    public static let enforceLabel = "pod-security.kubernetes.io/enforce"
    public static let warnLabel = "pod-security.kubernetes.io/warn"

    /// A namespace's level for `label` (nil when unset; an unknown value is the strictest, as Kubernetes treats it).
    public static func level(_ namespace: JSONValue?, label: String = enforceLabel) -> Level? {
        guard let value = namespace?["metadata"]?["labels"]?[label]?.stringValue else { return nil }
        return Level(rawValue: value) ?? .restricted
    }

    /// Capabilities baseline allows adding.
    static let baselineCapabilities: Set<String> = ["AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                                                    "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"]
    /// Sysctls baseline allows.
    static let safeSysctls: Set<String> = ["kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
                                           "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                                           "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
                                           "net.ipv4.tcp_keepalive_probes"]
    /// Volume types restricted allows.
    static let restrictedVolumes: Set<String> = ["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"]

    /// The checks `pod` fails at `level`, each as "<check> (<detail>)", in Kubernetes' order. Empty: allowed.
    public static func violations(_ pod: JSONValue, level: Level) -> [String] {
        guard level != .privileged, let spec = pod["spec"] else { return [] }
        let containers: [(kind: String, c: JSONValue)] =
            (spec["initContainers"]?.arrayValue ?? []).map { ("initContainer", $0) }
            + (spec["containers"]?.arrayValue ?? []).map { ("container", $0) }
            + (spec["ephemeralContainers"]?.arrayValue ?? []).map { ("ephemeralContainer", $0) }
        func name(_ c: JSONValue) -> String { c["name"]?.stringValue ?? "" }
        func quoted(_ names: [String]) -> String { names.map { "\"\($0)\"" }.joined(separator: ", ") }
        func plural(_ kind: String, _ names: [String]) -> String { "\(kind)\(names.count > 1 ? "s" : "") \(quoted(names))" }
        var out: [String] = []

        // baseline
        let hostNS = ["hostNetwork", "hostPID", "hostIPC"].filter { spec[$0]?.boolValue == true }
        if !hostNS.isEmpty { out.append("host namespaces (\(hostNS.map { "\($0)=true" }.joined(separator: ", ")))") }
        let privileged = containers.filter { $0.c["securityContext"]?["privileged"]?.boolValue == true }.map { name($0.c) }
        if !privileged.isEmpty { out.append("privileged (\(plural("container", privileged)) must not set securityContext.privileged=true)") }
        var badCaps: [String: [String]] = [:], capOrder: [String] = []
        for (_, c) in containers {
            let added = (c["securityContext"]?["capabilities"]?["add"]?.arrayValue ?? []).compactMap(\.stringValue)
            let bad = added.filter { !baselineCapabilities.contains($0) }
            if !bad.isEmpty { badCaps[name(c)] = bad; capOrder.append(name(c)) }
        }
        if !capOrder.isEmpty {
            let caps = Array(Set(capOrder.flatMap { badCaps[$0]! })).sorted()
            out.append("non-default capabilities (\(plural("container", capOrder)) must not include \(quoted(caps)) in securityContext.capabilities.add)")
        }
        let hostPaths = (spec["volumes"]?.arrayValue ?? []).filter { $0["hostPath"] != nil }.compactMap { $0["name"]?.stringValue }
        if !hostPaths.isEmpty { out.append("hostPath volumes (\(hostPaths.count > 1 ? "volumes" : "volume") \(quoted(hostPaths)))") }
        var hostPorts: [String] = [], portContainers: [String] = []
        for (_, c) in containers {
            let ports = (c["ports"]?.arrayValue ?? []).compactMap { $0["hostPort"]?.intValue }.filter { $0 != 0 }
            if !ports.isEmpty { portContainers.append(name(c)); hostPorts += ports.map(String.init) }
        }
        if !portContainers.isEmpty { out.append("hostPort (\(plural("container", portContainers)) \(hostPorts.count > 1 ? "use hostPorts" : "uses hostPort") \(hostPorts.joined(separator: ", ")))") }
        let procMount = containers.filter { ($0.c["securityContext"]?["procMount"]?.stringValue ?? "Default") != "Default" }.map { name($0.c) }
        if !procMount.isEmpty { out.append("procMount (\(plural("container", procMount)) must not set securityContext.procMount to \"Unmasked\")") }
        func seccompType(_ sc: JSONValue?) -> String? { sc?["seccompProfile"]?["type"]?.stringValue }
        var unconfined: [String] = []
        if seccompType(spec["securityContext"]) == "Unconfined" { unconfined.append("pod") }
        let unconfinedContainers = containers.filter { seccompType($0.c["securityContext"]) == "Unconfined" }.map { name($0.c) }
        if !unconfined.isEmpty || !unconfinedContainers.isEmpty {
            let who = (unconfined.isEmpty ? [] : ["pod"]) + (unconfinedContainers.isEmpty ? [] : [plural("container", unconfinedContainers)])
            out.append("seccompProfile (\(who.joined(separator: " and ")) must not set securityContext.seccompProfile.type to \"Unconfined\")")
        }
        let sysctls = (spec["securityContext"]?["sysctls"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }.filter { !safeSysctls.contains($0) }
        if !sysctls.isEmpty { out.append("forbidden sysctls (\(sysctls.joined(separator: ", ")))") }
        guard level == .restricted else { return out }

        // restricted
        let volumeTypes = (spec["volumes"]?.arrayValue ?? []).compactMap { v -> (String, String)? in
            guard case .object(let o) = v, let type = o.keys.first(where: { $0 != "name" }), !restrictedVolumes.contains(type), type != "hostPath" else { return nil }
            return (v["name"]?.stringValue ?? "", type)
        }
        if !volumeTypes.isEmpty {
            out.append("restricted volume types (\(volumeTypes.count > 1 ? "volumes" : "volume") \(quoted(volumeTypes.map(\.0))) \(volumeTypes.count > 1 ? "use" : "uses") restricted volume type\(volumeTypes.count > 1 ? "s" : "") \(quoted(Array(Set(volumeTypes.map(\.1))).sorted())))")
        }
        let escalation = containers.filter { $0.c["securityContext"]?["allowPrivilegeEscalation"]?.boolValue != false }.map { name($0.c) }
        if !escalation.isEmpty { out.append("allowPrivilegeEscalation != false (\(plural("container", escalation)) must set securityContext.allowPrivilegeEscalation=false)") }
        let podNonRoot = spec["securityContext"]?["runAsNonRoot"]?.boolValue
        let rootish = containers.filter { ($0.c["securityContext"]?["runAsNonRoot"]?.boolValue ?? podNonRoot) != true }.map { name($0.c) }
        if podNonRoot == false || !rootish.isEmpty {
            out.append(podNonRoot == false && rootish.count == containers.count
                       ? "runAsNonRoot != true (pod must not set securityContext.runAsNonRoot=false)"
                       : "runAsNonRoot != true (pod or \(plural("container", rootish)) must set securityContext.runAsNonRoot=true)")
        }
        var uidZero: [String] = []
        if spec["securityContext"]?["runAsUser"]?.intValue == 0 { uidZero.append("pod") }
        let zeroContainers = containers.filter { $0.c["securityContext"]?["runAsUser"]?.intValue == 0 }.map { name($0.c) }
        if !uidZero.isEmpty || !zeroContainers.isEmpty {
            let who = uidZero + (zeroContainers.isEmpty ? [] : [plural("container", zeroContainers)])
            out.append("runAsUser=0 (\(who.joined(separator: " and ")) must not set runAsUser=0)")
        }
        let podSeccomp = seccompType(spec["securityContext"])
        let noSeccomp = containers.filter {
            let t = seccompType($0.c["securityContext"]) ?? podSeccomp
            return t != "RuntimeDefault" && t != "Localhost"
        }.map { name($0.c) }.filter { !unconfinedContainers.contains($0) }
        if !noSeccomp.isEmpty && podSeccomp != "Unconfined" {
            out.append("seccompProfile (pod or \(plural("container", noSeccomp)) must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")")
        }
        var noDrop: [String] = [], badAdd: [String] = [], addedCaps: Set<String> = []
        for (_, c) in containers {
            let caps = c["securityContext"]?["capabilities"]
            let drop = (caps?["drop"]?.arrayValue ?? []).compactMap(\.stringValue)
            if !drop.contains("ALL") { noDrop.append(name(c)) }
            let add = (caps?["add"]?.arrayValue ?? []).compactMap(\.stringValue).filter { $0 != "NET_BIND_SERVICE" }
            if !add.isEmpty { badAdd.append(name(c)); addedCaps.formUnion(add) }
        }
        if !noDrop.isEmpty || !badAdd.isEmpty {
            var parts: [String] = []
            if !noDrop.isEmpty { parts.append("\(plural("container", noDrop)) must set securityContext.capabilities.drop=[\"ALL\"]") }
            if !badAdd.isEmpty { parts.append("\(plural("container", badAdd)) must not include \(quoted(addedCaps.sorted())) in securityContext.capabilities.add") }
            out.append("unrestricted capabilities (\(parts.joined(separator: "; ")))")
        }
        return out
    }

    /// The Forbidden message for a pod refused at `level`.
    public static func message(pod name: String, level: Level, violations: [String]) -> String {
        "pods \"\(name)\" is forbidden: violates PodSecurity \"\(level.rawValue):latest\": \(violations.joined(separator: ", "))"
    }
}
