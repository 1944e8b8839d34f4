// Which nodes a pod may go to: node affinity's requirements (shared by the scheduler and the
// DaemonSet controller), required terms, and taints against tolerations.

/// A label requirement of node affinity (nodeSelectorTerms / preference expressions).
public struct NodeRequirement: Equatable, Sendable {
    public enum Op: String, Sendable { case `in` = "In", notIn = "NotIn", exists = "Exists", doesNotExist = "DoesNotExist", gt = "Gt", lt = "Lt" }
    public var key: String
    public var op: Op
    public var values: [String]
    /// matchFields (only metadata.name) instead of labels.
    public var onField = false

    public func matches(labels: [String: String], nodeName: String) -> Bool {
        let value = onField ? (key == "metadata.name" ? nodeName : nil) : labels[key]
        switch op {
        case .in: return value.map { values.contains($0) } ?? false
        case .notIn: return value.map { !values.contains($0) } ?? true
        case .exists: return value != nil
        case .doesNotExist: return value == nil
        case .gt, .lt:
            guard let v = value.flatMap({ Int64($0) }), let bound = values.first.flatMap({ Int64($0) }) else { return false }
            return op == .gt ? v > bound : v < bound
        }
    }

    /// One nodeSelectorTerm: its expressions and fields, all required.
    public static func term(_ t: JSONValue) -> [NodeRequirement] {
        func parse(_ list: JSONValue?, onField: Bool) -> [NodeRequirement] {
            (list?.arrayValue ?? []).compactMap { e in
                guard let key = e["key"]?.stringValue, let op = e["operator"]?.stringValue.flatMap(Op.init(rawValue:)) else { return nil }
                return NodeRequirement(key: key, op: op, values: (e["values"]?.arrayValue ?? []).compactMap(\.stringValue), onField: onField)
            }
        }
        return parse(t["matchExpressions"], onField: false) + parse(t["matchFields"], onField: true)
    }
}

extension NodeRequirement {
    /// requiredDuringSchedulingIgnoredDuringExecution: any one term matching is enough; no terms, any node.
    public static func requiredTerms(_ affinity: JSONValue?) -> [[NodeRequirement]] {
        (affinity?["nodeAffinity"]?["requiredDuringSchedulingIgnoredDuringExecution"]?["nodeSelectorTerms"]?.arrayValue ?? []).map(term)
    }

    public static func anyTermMatches(_ terms: [[NodeRequirement]], labels: [String: String], nodeName: String) -> Bool {
        terms.isEmpty || terms.contains { term in term.allSatisfy { $0.matches(labels: labels, nodeName: nodeName) } }
    }
}

extension Toleration {
    /// Whether this toleration covers `taint` (an empty key with Exists covers every taint).
    public func tolerates(_ taint: Taint) -> Bool {
        if let effect, !effect.isEmpty, effect != taint.effect?.rawValue { return false }
        let exists = op == "Exists"
        guard let key, !key.isEmpty else { return exists }
        return key == taint.key && (exists || (value ?? "") == (taint.value ?? ""))
    }
}

extension NodeSelectorTerm {
    /// The label every node carries with its own name (the agent registers it).
    public static let hostnameLabel = "kubernetes.io/hostname"

    /// A term only the node named `node` matches (a local volume's node affinity).
    public static func node(named node: String) -> NodeSelectorTerm {
        var requirement = NodeSelectorRequirement()
        requirement.key = hostnameLabel
        requirement.op = "In"
        requirement.values = [node]
        var term = NodeSelectorTerm()
        term.matchExpressions = [requirement]
        return term
    }
}
