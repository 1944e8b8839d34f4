// Where a DaemonSet's pods go: whether a node should run one (nodeSelector, required node
// affinity, NoSchedule/NoExecute taints tolerated), the tolerations every daemon pod gets so that
// cordoned, not-ready or pressured nodes keep their daemons, and the pod pinned to its node.
import API
import Foundation

enum DaemonPlacement {
    /// Added to every daemon pod (Kubernetes' daemon tolerations).
    static let tolerations: [(key: String, effect: String)] = [
        ("node.kubernetes.io/not-ready", "NoExecute"), ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"), ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"), ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ]

    static func withDaemonTolerations(_ spec: PodSpec) -> [Toleration] {
        var list = spec.tolerations
        var wanted = tolerations
        if spec.hostNetwork == true { wanted.append(("node.kubernetes.io/network-unavailable", "NoSchedule")) }
        for (key, effect) in wanted where !list.contains(where: { $0.key == key && $0.effect == effect && $0.op == "Exists" }) {
            var t = Toleration()
            t.key = key
            t.op = "Exists"
            t.effect = effect
            list.append(t)
        }
        return list
    }

    static func shouldRun(_ template: PodTemplateSpec, on node: Node) -> Bool {
        let labels = node.metadata.labels ?? [:]
        let spec = template.spec
        for (k, v) in spec.nodeSelector ?? [:] where labels[k] != v { return false }
        guard NodeRequirement.anyTermMatches(NodeRequirement.requiredTerms(spec.affinity.json), labels: labels, nodeName: node.name) else { return false }
        let tolerations = withDaemonTolerations(spec)
        for taint in node.spec.taints where taint.effect == .noSchedule || taint.effect == .noExecute {
            if !tolerations.contains(where: { $0.tolerates(taint) }) { return false }
        }
        return true
    }

    /// The node a daemon pod is for: where it runs, or the node its affinity pins it to.
    static func nodeName(of pod: Pod) -> String? {
        if let n = pod.spec.nodeName, !n.isEmpty { return n }
        for term in NodeRequirement.requiredTerms(pod.spec.affinity.json) {
            if let r = term.first(where: { $0.onField && $0.key == "metadata.name" && $0.op == .in }), let n = r.values.first { return n }
        }
        return nil
    }

    /// The DaemonSet's pod for one node: its template, the revision hash label, the daemon
    /// tolerations and a required node affinity on metadata.name (the scheduler binds it there).
    static func pod(for ds: DaemonSet, node: String, hash: String) -> Pod {
        var pod = Pod.new(namespace: ds.namespace)
        let template = ds.spec.template
        pod.spec = template.spec
        pod.metadata.generateName = ds.name + "-"
        var labels = template.metadata.labels ?? [:]
        labels[AppsRules.revisionHashLabel] = hash
        if let generation = ds.metadata.generation { labels["pod-template-generation"] = String(generation) }
        pod.metadata.labels = labels
        pod.metadata.annotations = template.metadata.annotations
        pod.metadata.ownerReferences = [ds.ownerReference()]
        pod.spec.tolerations = withDaemonTolerations(template.spec)
        var pin = NodeSelectorRequirement()
        pin.key = "metadata.name"
        pin.op = "In"
        pin.values = [node]
        var term = NodeSelectorTerm()
        term.matchFields = [pin]
        pod.spec.affinity.nodeAffinity.required.nodeSelectorTerms = [term]
        return pod
    }
}
