// The names the agent gives pod containers in its runtime, k8s_<container>_<pod>_<namespace>_<uid8>_<attempt>
// (as dockershim named them), and a cache of them parsed: every sync pass looks at every
// container on the node, thousands when completed Job pods pile up.
import Runtime
import Synchronization

struct ContainerName: Equatable {
    var container: String
    var pod: String
    var namespace: String
    var uid: String      // first 8 characters of the pod's uid
    var attempt: Int

    var text: String { "k8s_\(container)_\(pod)_\(namespace)_\(uid)_\(attempt)" }

    init(container: String, pod: String, namespace: String, uid: String, attempt: Int) {
        self.container = container; self.pod = pod; self.namespace = namespace; self.uid = String(uid.prefix(8)); self.attempt = attempt
    }

    init?(parsing name: String) {
        let parts = name.split(separator: "_", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 6, parts[0] == "k8s", let attempt = Int(parts[5]) else { return nil }
        self.init(container: parts[1], pod: parts[2], namespace: parts[3], uid: parts[4], attempt: attempt)
    }
}

/// Container names parsed once per container id (names never change).
final class ContainerNames: Sendable {
    private let parsed = Mutex<[String: ContainerName?]>([:])

    func of(_ record: ContainerRecord) -> ContainerName? {
        if let known = parsed.withLock({ $0[record.id] }) { return known }
        let name = ContainerName(parsing: record.name)
        parsed.withLock { $0[record.id] = name }
        return name
    }

    var count: Int { parsed.withLock { $0.count } }

    /// Forgets containers that are gone.
    func retain(_ ids: Set<String>) {
        parsed.withLock { p in if p.count > ids.count { p = p.filter { ids.contains($0.key) } } }
    }
}
