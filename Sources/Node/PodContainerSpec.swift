// One container of a pod as the runtime's ContainerSpec: command/args expanded against its
// environment, env and volumes resolved, the pod's and the container's securityContext merged,
// resources as cgroup limits, and the sandbox's namespaces joined.
import API
import Client
import Runtime

struct PodContainerSpec {
    let pod: JSONValue
    let objects: ObjectSource
    let nodeAllocatable: (String) -> String?
    var logMaxBytes: Int64 = 0
    var logMaxFiles = 5

    func build(_ c: JSONValue, name: ContainerName, sandboxPID: Int32, cgroupParent: String,
               volumes: PodVolumes, volumePaths: [String: String]) throws -> ContainerSpec {
        var spec = ContainerSpec(root: .image(c["image"]?.stringValue ?? ""))
        spec.name = name.text
        spec.detach = true
        let env = try PodEnvironment.build(container: c, pod: pod, objects: objects, nodeAllocatable: nodeAllocatable)
        let vars = Dictionary(env, uniquingKeysWith: { _, last in last })
        spec.env = env.map { "\($0.0)=\($0.1)" }
        if let command = c["command"]?.arrayValue?.compactMap(\.stringValue), !command.isEmpty {
            spec.entrypoint = command.map { PodEnvironment.expand($0, vars) }
        }
        spec.command = (c["args"]?.arrayValue?.compactMap(\.stringValue) ?? []).map { PodEnvironment.expand($0, vars) }
        if let wd = c["workingDir"]?.stringValue, !wd.isEmpty { spec.workingDir = wd }
        spec.hostname = PodSandbox.hostname(pod)
        spec.mounts = try volumes.mounts(for: c, volumes: volumePaths, env: vars)
        spec.cgroupParent = cgroupParent
        spec.logMaxBytes = logMaxBytes
        spec.logMaxFiles = logMaxFiles
        let view = API.Container(json: c)
        spec.stdin = view.stdin == true
        spec.stdinOnce = view.stdinOnce == true
        spec.tty = view.tty == true
        try applyResources(c, to: &spec)
        try applySecurity(c, to: &spec)
        PodSandbox.join(&spec, pod: pod, sandboxPID: sandboxPID)
        return spec
    }

    func applyResources(_ c: JSONValue, to spec: inout ContainerSpec) throws {
        let resources = c["resources"] ?? .null
        func q(_ kind: String, _ r: String) throws -> Quantity? {
            guard let text = resources[kind]?[r]?.stringValue else { return nil }
            do { return try Quantity(parsing: text) } catch { throw PodConfigError("resources.\(kind).\(r): invalid quantity \"\(text)\"") }
        }
        if let mem = try q("limits", "memory") { spec.memoryBytes = mem.value }
        if let cpu = try q("limits", "cpu") { spec.milliCPUs = cpu.milliValue }
        // Requests weigh CPU time under contention (BestEffort: the minimum, 2 shares).
        if let req = try q("requests", "cpu") ?? q("limits", "cpu") {
            spec.cpuShares = max(2, UInt64(clamping: req.milliValue * 1024 / 1000))
        } else {
            spec.cpuShares = 2
        }
    }

    /// securityContext: the container's settings win over the pod's where both exist.
    func applySecurity(_ c: JSONValue, to spec: inout ContainerSpec) throws {
        let podSC = pod["spec"]?["securityContext"] ?? .null
        let sc = c["securityContext"] ?? .null
        func int(_ key: String) -> Int64? { sc[key]?.intValue ?? podSC[key]?.intValue }
        let group = int("runAsGroup").flatMap { UInt32(exactly: $0) }
        if let user = int("runAsUser") {
            spec.user = group.map { "\(user):\($0)" } ?? "\(user)"
        } else {
            spec.groupOverride = group
        }
        spec.requireNonRoot = (sc["runAsNonRoot"]?.boolValue ?? podSC["runAsNonRoot"]?.boolValue) == true
        var groups = (podSC["supplementalGroups"]?.arrayValue ?? []).compactMap { $0.intValue.flatMap { UInt32(exactly: $0) } }
        if let fsGroup = podSC["fsGroup"]?.intValue.flatMap({ UInt32(exactly: $0) }) { groups.append(fsGroup) }
        spec.supplementalGroups = groups
        spec.privileged = sc["privileged"]?.boolValue == true
        spec.capAdd = (sc["capabilities"]?["add"]?.arrayValue ?? []).compactMap(\.stringValue)
        spec.capDrop = (sc["capabilities"]?["drop"]?.arrayValue ?? []).compactMap(\.stringValue)
        spec.noNewPrivileges = sc["allowPrivilegeEscalation"]?.boolValue == false && !spec.privileged
        spec.readOnlyRootfs = sc["readOnlyRootFilesystem"]?.boolValue == true
        let seccomp = sc["seccompProfile"]?["type"]?.stringValue ?? podSC["seccompProfile"]?["type"]?.stringValue ?? "RuntimeDefault"
        switch seccomp {
        case "RuntimeDefault": break
        case "Unconfined": spec.seccompUnconfined = true
        default: throw PodConfigError("seccompProfile type \(seccomp) is not supported on this node (use RuntimeDefault or Unconfined)")
        }
    }
}

/// ConfigMaps and Secrets read from the API server (404 → nil); tokens through the agent's
/// token manager, Services from its watch.
struct APIObjectSource: ObjectSource {
    let client: APIClient?
    var tokens: TokenManager?
    var serviceLister: ServiceLister?

    func token(for owner: TokenOwner, _ projection: TokenProjection) throws -> String {
        guard let tokens else { throw PodConfigError("cannot request a token for service account \(owner.namespace)/\(owner.serviceAccount): no API server") }
        return try tokens.token(for: owner, projection)
    }

    func services() -> [ServiceLink] { serviceLister?.services() ?? [] }

    func object(resource: String, namespace: String, name: String) throws -> JSONValue? {
        guard let client else { throw PodConfigError("cannot read \(resource) \(namespace)/\(name): no API server") }
        let r = try client.get("/api/v1/namespaces/\(namespace)/\(resource)/\(name)")
        if r.code == 404 { return nil }
        guard r.code == 200 else { throw PodConfigError("reading \(resource) \(namespace)/\(name): \(r.errorMessage)") }
        return try r.json()
    }
}
