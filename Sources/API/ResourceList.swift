// Named quantities (corev1.ResourceList) and the arithmetic quota and LimitRanger do on them
// (k8s.io/apiserver/pkg/quota/v1/resources.go): sums, masks, comparisons, Kubernetes' printing.

public typealias ResourceList = [String: Quantity]

/// The resource names LimitRange, quota and pod accounting use (corev1.ResourceName).
public enum ResourceName {
    public static let cpu = "cpu"
    public static let memory = "memory"
    public static let storage = "storage"
    public static let ephemeralStorage = "ephemeral-storage"
    public static let pods = "pods"
    public static let services = "services"
    public static let servicesNodePorts = "services.nodeports"
    public static let servicesLoadBalancers = "services.loadbalancers"
    public static let persistentVolumeClaims = "persistentvolumeclaims"
    public static let configMaps = "configmaps"
    public static let secrets = "secrets"
    public static let replicationControllers = "replicationcontrollers"
    public static let resourceQuotas = "resourcequotas"
    public static let requestsPrefix = "requests."
    public static let limitsPrefix = "limits."
    public static let hugePagesPrefix = "hugepages-"
    /// `count/<resource>[.<group>]`: how many objects of a resource a namespace holds.
    public static let countPrefix = "count/"

    public static func requests(_ name: String) -> String { requestsPrefix + name }
    public static func limits(_ name: String) -> String { limitsPrefix + name }
}

extension Dictionary where Key == String, Value == Quantity {
    /// Parses quantities as written (a view's `{Quantity}` map); entries that do not parse are
    /// left out (validation refuses them before anything reads them).
    public init(parsing map: [String: String]?) {
        self.init()
        for (k, v) in map ?? [:] { if let q = try? Quantity(parsing: v) { self[k] = q } }
    }

    /// The canonical text of each quantity, as an object stores it.
    public var rendered: [String: String] { mapValues(\.description) }

    /// Every name in either list, summed (quota.Add).
    public func adding(_ other: ResourceList) -> ResourceList {
        var out = self
        for (k, v) in other { out[k] = out[k].map { $0.adding(v) } ?? v }
        return out
    }

    /// Every name in either list, this minus other (quota.Subtract).
    public func subtracting(_ other: ResourceList) -> ResourceList {
        var out = self
        for (k, v) in other { out[k] = (out[k] ?? .zero).subtracting(v) }
        return out
    }

    /// The names kept (quota.Mask).
    public func masked(to names: Set<String>) -> ResourceList { filter { names.contains($0.key) } }

    /// The names whose value is not zero (quota.RemoveZeros).
    public var withoutZeros: ResourceList { filter { !$0.value.isZero } }

    /// Names whose value is negative (quota.IsNegative), sorted.
    public var negativeNames: [String] { filter { $0.value.isNegative }.map(\.key).sorted() }

    /// Each name's larger value (resourcehelper's maxResourceList).
    public mutating func raise(to other: ResourceList) {
        for (k, v) in other where self[k].map({ v > $0 }) ?? true { self[k] = v }
    }

    /// Whether every name `limits` sets is at most its limit here, and the names that are over
    /// (quota.LessThanOrEqual: names missing from this list are within bounds).
    public func isWithin(_ limits: ResourceList) -> (ok: Bool, exceeded: Set<String>) {
        var exceeded = Set<String>()
        for (k, limit) in limits { if let v = self[k], v > limit { exceeded.insert(k) } }
        return (exceeded.isEmpty, exceeded)
    }

    /// The same names with equal values (quota.Equals).
    public func isEqual(to other: ResourceList) -> Bool {
        count == other.count && allSatisfy { k, v in other[k].map { $0 == v } ?? false }
    }

    /// `cpu=500m,pods=1`: sorted by name, as quota's error messages print a list.
    public var prettyPrinted: String { sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") }
}
