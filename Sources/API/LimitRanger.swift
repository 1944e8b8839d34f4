// The LimitRanger admission's rules (plugin/pkg/admission/limitranger): a namespace's
// LimitRanges give the containers of a new pod the default requests and limits they lack, then
// bound containers, pods and claims by min, max and maxLimitRequestRatio, in Kubernetes' words.
import Foundation

public enum LimitRanger {
    /// What the admission set, recorded on the pod.
    public static let annotation = "kubernetes.io/limit-ranger"

    /// SetDefaults_LimitRangeItem: a Container item's default limit falls back to its max, its
    /// default request to the default limit, then to its min.
    public static func defaultItem(_ item: inout LimitRangeItem) {
        guard item.type == "Container" else { return }
        // (A value that is no quantity is left where it was, for validation to name once.)
        let valid = { (v: String) in (try? Quantity(parsing: v)) != nil }
        var limits = item.defaultLimits ?? [:], requests = item.defaultRequest ?? [:]
        for (k, v) in item.max ?? [:] where limits[k] == nil && valid(v) { limits[k] = v }
        for (k, v) in limits where requests[k] == nil && valid(v) { requests[k] = v }
        for (k, v) in item.min ?? [:] where requests[k] == nil && valid(v) { requests[k] = v }
        if !limits.isEmpty { item.defaultLimits = limits }
        if !requests.isEmpty { item.defaultRequest = requests }
    }

    // MARK: defaults (mutating admission)

    /// Fills in one LimitRange's container defaults (PodMutateLimitFunc); a value the container
    /// names is kept. Notes what it set in the `kubernetes.io/limit-ranger` annotation.
    public static func applyDefaults(_ pod: inout Pod, _ lr: LimitRange) {
        var limits: [String: String] = [:], requests: [String: String] = [:]
        for item in lr.spec.limits where item.type == "Container" {
            limits.merge(item.defaultLimits ?? [:]) { _, new in new }
            requests.merge(item.defaultRequest ?? [:]) { _, new in new }
        }
        guard !limits.isEmpty || !requests.isEmpty else { return }
        var notes: [String] = []
        pod.spec.containers = pod.spec.containers.map { merge($0, limits: limits, requests: requests, as: "container", notes: &notes) }
        pod.spec.initContainers = pod.spec.initContainers.map { merge($0, limits: limits, requests: requests, as: "init container", notes: &notes) }
        if !notes.isEmpty {
            var annotations = pod.metadata.annotations ?? [:]
            annotations[annotation] = "LimitRanger plugin set: " + notes.joined(separator: "; ")
            pod.metadata.annotations = annotations
        }
    }

    static func merge(_ c: Container, limits: [String: String], requests: [String: String], as what: String,
                      notes: inout [String]) -> Container {
        var c = c
        var haveLimits = c.resources.limits ?? [:], haveRequests = c.resources.requests ?? [:]
        let setLimits = limits.keys.filter { haveLimits[$0] == nil }.sorted()
        let setRequests = requests.keys.filter { haveRequests[$0] == nil }.sorted()
        for k in setLimits { haveLimits[k] = limits[k] }
        for k in setRequests { haveRequests[k] = requests[k] }
        if !setLimits.isEmpty { c.resources.limits = haveLimits }
        if !setRequests.isEmpty { c.resources.requests = haveRequests }
        let name = c.name ?? ""
        if !setRequests.isEmpty { notes.append(setRequests.joined(separator: ", ") + " request for \(what) \(name)") }
        if !setLimits.isEmpty { notes.append(setLimits.joined(separator: ", ") + " limit for \(what) \(name)") }
        return c
    }

    // MARK: bounds (validating admission)

    /// Why the pod breaks the LimitRange's Container and Pod items (PodValidateLimitFunc).
    public static func podViolations(_ pod: Pod, _ lr: LimitRange) -> [String] {
        var out: [String] = []
        for item in lr.spec.limits {
            let type = item.type ?? ""
            if type == "Container" {
                for c in pod.spec.containers + pod.spec.initContainers {
                    out += bounds(item, type, requests: ResourceList(parsing: c.resources.requests), limits: ResourceList(parsing: c.resources.limits))
                }
            } else if type == "Pod" {
                let (requests, limits) = podTotals(pod.spec)
                out += bounds(item, type, requests: requests, limits: limits)
            }
        }
        return out
    }

    /// Why the claim breaks the LimitRange's PersistentVolumeClaim items: only its storage
    /// request is bounded (PersistentVolumeClaimValidateLimitFunc).
    public static func claimViolations(_ claim: PersistentVolumeClaim, _ lr: LimitRange) -> [String] {
        var out: [String] = []
        let requests = ResourceList(parsing: claim.spec.resources.requests)
        for item in lr.spec.limits where item.type == "PersistentVolumeClaim" {
            for (k, v) in ResourceList(parsing: item.min).sorted(by: { $0.key < $1.key }) {
                out += minimum("PersistentVolumeClaim", k, v, requests: requests, limits: [:])
            }
            for (k, v) in ResourceList(parsing: item.max).sorted(by: { $0.key < $1.key }) {
                out += maximumRequest("PersistentVolumeClaim", k, v, requests: requests)
            }
        }
        return out
    }

    /// utilerrors.NewAggregate's message: one error as is, several as "[a, b]", each once.
    public static func message(_ violations: [String]) -> String {
        var seen = Set<String>(), unique: [String] = []
        for v in violations where seen.insert(v).inserted { unique.append(v) }
        return unique.count == 1 ? unique[0] : "[" + unique.joined(separator: ", ") + "]"
    }

    static func bounds(_ item: LimitRangeItem, _ type: String, requests: ResourceList, limits: ResourceList) -> [String] {
        var out: [String] = []
        for (k, v) in ResourceList(parsing: item.min).sorted(by: { $0.key < $1.key }) { out += minimum(type, k, v, requests: requests, limits: limits) }
        for (k, v) in ResourceList(parsing: item.max).sorted(by: { $0.key < $1.key }) { out += maximum(type, k, v, requests: requests, limits: limits) }
        for (k, v) in ResourceList(parsing: item.maxLimitRequestRatio).sorted(by: { $0.key < $1.key }) {
            out += ratio(type, k, v, requests: requests, limits: limits)
        }
        return out
    }

    /// The pod's requests and limits as the Pod item sees them: the containers' sum (of the
    /// resources every container names), raised to any init container's.
    static func podTotals(_ spec: PodSpec) -> (requests: ResourceList, limits: ResourceList) {
        func sum(_ lists: [ResourceList]) -> ResourceList {
            var out: ResourceList = [:]
            for k in Set(lists.flatMap(\.keys)) where lists.allSatisfy({ $0[k] != nil }) {
                out[k] = lists.reduce(Quantity.zero) { $0.adding($1[k] ?? .zero) }
            }
            return out
        }
        var requests = sum(spec.containers.map { ResourceList(parsing: $0.resources.requests) })
        var limits = sum(spec.containers.map { ResourceList(parsing: $0.resources.limits) })
        for c in spec.initContainers {
            requests.raise(to: ResourceList(parsing: c.resources.requests))
            limits.raise(to: ResourceList(parsing: c.resources.limits))
        }
        return (requests, limits)
    }

    /// Values at a common precision: milli unless one would overflow (requestLimitEnforcedValues).
    static func comparable(_ values: Quantity?...) -> [Int64] {
        let whole = values.map { $0?.value ?? 0 }
        return whole.allSatisfy({ $0 <= GovernanceRules.maxMilliValue }) ? values.map { $0?.milliValue ?? 0 } : whole
    }

    static func minimum(_ type: String, _ k: String, _ enforced: Quantity, requests: ResourceList, limits: ResourceList) -> [String] {
        let v = comparable(requests[k], limits[k], enforced)
        guard let req = requests[k] else { return ["minimum \(k) usage per \(type) is \(enforced).  No request is specified"] }
        if v[0] < v[2] { return ["minimum \(k) usage per \(type) is \(enforced), but request is \(req)"] }
        if let lim = limits[k], v[1] < v[2] { return ["minimum \(k) usage per \(type) is \(enforced), but limit is \(lim)"] }
        return []
    }

    static func maximum(_ type: String, _ k: String, _ enforced: Quantity, requests: ResourceList, limits: ResourceList) -> [String] {
        let v = comparable(requests[k], limits[k], enforced)
        guard let lim = limits[k] else { return ["maximum \(k) usage per \(type) is \(enforced).  No limit is specified"] }
        if v[1] > v[2] { return ["maximum \(k) usage per \(type) is \(enforced), but limit is \(lim)"] }
        if let req = requests[k], v[0] > v[2] { return ["maximum \(k) usage per \(type) is \(enforced), but request is \(req)"] }
        return []
    }

    /// A claim has no limits: its request is what max bounds.
    static func maximumRequest(_ type: String, _ k: String, _ enforced: Quantity, requests: ResourceList) -> [String] {
        let v = comparable(requests[k], nil, enforced)
        guard let req = requests[k] else { return ["maximum \(k) usage per \(type) is \(enforced).  No request is specified"] }
        if v[0] > v[2] { return ["maximum \(k) usage per \(type) is \(enforced), but request is \(req)"] }
        return []
    }

    static func ratio(_ type: String, _ k: String, _ enforced: Quantity, requests: ResourceList, limits: ResourceList) -> [String] {
        let v = comparable(requests[k], limits[k], enforced)
        guard requests[k] != nil, v[0] != 0 else {
            return ["\(k) max limit to request ratio per \(type) is \(enforced), but no request is specified or request is 0"]
        }
        guard limits[k] != nil, v[1] != 0 else {
            return ["\(k) max limit to request ratio per \(type) is \(enforced), but no limit is specified or limit is 0"]
        }
        let observed = Double(v[1]) / Double(v[0])
        var scaled = observed, bound = Double(enforced.value)
        if enforced.value <= GovernanceRules.maxMilliValue {
            scaled = observed * 1000
            bound = Double(enforced.milliValue)
        }
        guard scaled > bound else { return [] }
        return ["\(k) max limit to request ratio per \(type) is \(enforced), but provided ratio is \(String(format: "%f", observed))"]
    }
}
