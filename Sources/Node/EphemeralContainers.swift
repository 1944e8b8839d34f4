// Ephemeral containers (kubectl debug): each runs once in the running pod — in its sandbox's
// namespaces, and with targetContainerName in that container's pid namespace — and is never
// restarted, as the kubelet does. Their statuses go to status.ephemeralContainerStatuses.
import API
import Runtime

extension PodSync {
    /// Starts the ephemeral containers that have no container yet; true when one was started.
    func startEphemeralContainers(_ context: PodContext, instances: [Instance], waiting: inout [String: (String, String)]) -> Bool {
        var started = false
        for ec in Pod(json: context.pod).spec.ephemeral {
            guard let name = ec.name, attempts(of: name, in: instances).isEmpty else { continue }
            var pidNamespace: String?
            if let target = ec.targetContainerName, !target.isEmpty {
                guard let latest = attempts(of: target, in: instances).last, case .running(let pid) = latest.status else {
                    waiting[name] = ("CreateContainerError", "target container \"\(target)\" is not running")
                    continue
                }
                pidNamespace = "/proc/\(pid)/ns/pid"
            }
            if let w = start(ec.json, attempt: 0, context: context, pidNamespace: pidNamespace) { waiting[name] = w } else { started = true }
        }
        return started
    }

    /// status.ephemeralContainerStatuses: one entry per ephemeral container (never ready, as upstream).
    func ephemeralStatuses(_ spec: PodSpec, instances: [Instance], waiting: [String: (String, String)]) -> [JSONValue] {
        var counts = StateCounts()
        return spec.ephemeral.map { ec in
            var status = ContainerStatus(json: containerStatus(ec, instances: instances, waiting: waiting, counts: &counts))
            status.ready = false
            return status.json
        }
    }
}
