// What an object uses of a ResourceQuota (pkg/quota/v1/evaluator/core and apiserver's generic
// object-count evaluator): pods use compute (not once finished), `pods` and `count/pods`, and
// fall in scopes; services use node ports and load balancers; claims use storage, also per
// class; every other kind counts as `count/<resource>.<group>` (plus a legacy name for some).
import Foundation

public struct QuotaEvaluator: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case pods, services, claims, objectCount }
    public let kind: Kind
    public let resource: ResourceType

    public static func forResource(_ r: ResourceType) -> QuotaEvaluator {
        let kind: Kind
        switch (r.group, r.plural) {
        case ("", "pods"): kind = .pods
        case ("", "services"): kind = .services
        case ("", "persistentvolumeclaims"): kind = .claims
        default: kind = .objectCount
        }
        return QuotaEvaluator(kind: kind, resource: r)
    }

    /// The evaluators a quota with these resource names needs, for counting what a namespace uses.
    public static func evaluators(for names: some Collection<String>) -> [QuotaEvaluator] {
        var out: [QuotaEvaluator] = []
        for r in ResourceRegistry.all where r.namespaced {
            let e = forResource(r)
            if !e.matchingResources(names).isEmpty { out.append(e) }
        }
        return out
    }

    /// "count/pods", "count/deployments.apps".
    public var countName: String {
        ResourceName.countPrefix + resource.plural + (resource.group.isEmpty ? "" : "." + resource.group)
    }

    /// The older name counting the same objects (generic evaluators only).
    var legacyCountName: String? {
        guard resource.group.isEmpty else { return nil }
        return [ResourceName.configMaps, ResourceName.secrets, ResourceName.replicationControllers, ResourceName.resourceQuotas]
            .first { $0 == resource.plural }
    }

    static let podResources: Set<String> = [
        "count/pods", "cpu", "memory", "ephemeral-storage", "requests.cpu", "requests.memory", "requests.ephemeral-storage",
        "limits.cpu", "limits.memory", "limits.ephemeral-storage", "pods",
    ]
    static let serviceResources: Set<String> = ["count/services", "services", "services.nodeports", "services.loadbalancers"]
    static let claimResources: Set<String> = ["persistentvolumeclaims", "requests.storage"]
    static let storageClassSuffix = ".storageclass.storage.k8s.io/"

    /// Of a quota's resource names, those this resource's objects use (MatchingResources).
    public func matchingResources(_ names: some Collection<String>) -> Set<String> {
        var out = Set<String>()
        for name in names {
            switch kind {
            case .pods:
                let extended = !GovernanceRules.isNative(name) && name.hasPrefix(ResourceName.requestsPrefix)
                if Self.podResources.contains(name) || GovernanceRules.isHugePages(name) || extended { out.insert(name) }
            case .services:
                if Self.serviceResources.contains(name) { out.insert(name) }
            case .claims:
                if name == countName || Self.claimResources.contains(name)
                    || Self.claimResources.contains(where: { name.hasSuffix(Self.storageClassSuffix + $0) }) { out.insert(name) }
            case .objectCount:
                if name == countName || name == legacyCountName { out.insert(name) }
            }
        }
        return out
    }

    // MARK: usage

    /// What one object uses (Usage).
    public func usage(_ object: JSONValue, now: Date) -> ResourceList {
        switch kind {
        case .pods: return Self.podUsage(Pod(json: object), now: now)
        case .services: return Self.serviceUsage(object)
        case .claims: return Self.claimUsage(PersistentVolumeClaim(json: object))
        case .objectCount:
            var out: ResourceList = [countName: Quantity(1)]
            if let legacy = legacyCountName { out[legacy] = Quantity(1) }
            return out
        }
    }

    /// A pod always counts in count/pods; until it finishes (or outlives its deletion grace),
    /// also in pods and its compute (PodUsageFunc).
    static func podUsage(_ pod: Pod, now: Date) -> ResourceList {
        var out: ResourceList = ["count/pods": Quantity(1)]
        guard isCharged(pod, now: now) else { return out }
        out = out.adding(computeUsage(requests: PodResources.requests(pod.spec), limits: PodResources.limits(pod.spec)))
        return out
    }

    /// QuotaV1Pod: finished pods, and pods past their deletion grace period, use no compute.
    public static func isCharged(_ pod: Pod, now: Date) -> Bool {
        if pod.isTerminal { return false }
        if let deleted = pod.metadata.deletionTimestamp, let grace = pod.metadata.deletionGracePeriodSeconds,
           now > deleted.addingTimeInterval(Double(grace)) { return false }
        return true
    }

    /// podComputeUsageHelper: requests and limits under their quota names, and one `pods`.
    static func computeUsage(requests: ResourceList, limits: ResourceList) -> ResourceList {
        var out: ResourceList = [ResourceName.pods: Quantity(1)]
        for r in [ResourceName.cpu, ResourceName.memory, ResourceName.ephemeralStorage] {
            if let q = requests[r] { out[r] = q; out[ResourceName.requests(r)] = q }
            if let q = limits[r] { out[ResourceName.limits(r)] = q }
        }
        for (r, q) in requests {
            if r.hasPrefix(ResourceName.hugePagesPrefix) { out[r] = q; out[ResourceName.requests(r)] = q }
            if GovernanceRules.isExtended(r) { out[ResourceName.requests(r)] = q }
        }
        return out
    }

    static func serviceUsage(_ svc: JSONValue) -> ResourceList {
        let spec = svc["spec"] ?? .null
        let ports = spec["ports"]?.arrayValue ?? []
        var out: ResourceList = ["count/services": Quantity(1), ResourceName.services: Quantity(1),
                                 ResourceName.servicesLoadBalancers: .zero, ResourceName.servicesNodePorts: .zero]
        switch spec["type"]?.stringValue {
        case "NodePort": out[ResourceName.servicesNodePorts] = Quantity(Int64(ports.count))
        case "LoadBalancer":
            // Without node ports for the balancer, only those asked for by number count.
            let allocates = spec["allocateLoadBalancerNodePorts"]?.boolValue ?? true
            let nodePorts = allocates ? ports.count : ports.filter { ($0["nodePort"]?.intValue ?? 0) != 0 }.count
            out[ResourceName.servicesNodePorts] = Quantity(Int64(nodePorts))
            out[ResourceName.servicesLoadBalancers] = Quantity(1)
        default: break
        }
        return out
    }

    static func claimUsage(_ claim: PersistentVolumeClaim) -> ResourceList {
        var out: ResourceList = [ResourceName.persistentVolumeClaims: Quantity(1), "count/persistentvolumeclaims": Quantity(1)]
        let className = claim.metadata.annotations?["volume.beta.kubernetes.io/storage-class"] ?? claim.spec.storageClassName ?? ""
        if !className.isEmpty { out[className + storageClassSuffix + ResourceName.persistentVolumeClaims] = Quantity(1) }
        if let text = claim.spec.resources.requests?[ResourceName.storage], let q = try? Quantity(parsing: text) {
            out[ResourceName.requests(ResourceName.storage)] = q.roundedUp
            if !className.isEmpty { out[className + storageClassSuffix + ResourceName.requests(ResourceName.storage)] = q.roundedUp }
        }
        return out
    }

    // MARK: scopes

    /// Whether the object falls in the scope; only pods have scopes (MatchesScopeFunc).
    public func matchesScope(_ s: ScopedResourceSelectorRequirement, _ object: JSONValue) -> Bool {
        guard kind == .pods else { return false }
        let pod = Pod(json: object)
        switch s.scopeName {
        case "Terminating": return (pod.spec.activeDeadlineSeconds ?? -1) >= 0
        case "NotTerminating": return (pod.spec.activeDeadlineSeconds ?? -1) < 0
        case "BestEffort": return PodRules.qosClass(pod.spec.json) == "BestEffort"
        case "NotBestEffort": return PodRules.qosClass(pod.spec.json) != "BestEffort"
        case "PriorityClass":
            let name = pod.spec.priorityClassName ?? ""
            if s.op == "Exists" { return !name.isEmpty }
            return Self.selector(s)?.matches(name.isEmpty ? [:] : ["PriorityClass": name]) ?? false
        case "CrossNamespacePodAffinity": return Self.usesCrossNamespaceAffinity(pod.spec)
        default: return false
        }
    }

    /// The scopes the object falls in (MatchingScopes).
    public func matchingScopes(_ object: JSONValue, _ scopes: [ScopedResourceSelectorRequirement]) -> [ScopedResourceSelectorRequirement] {
        scopes.filter { matchesScope($0, object) }
    }

    /// A scope requirement as a label selector over {PriorityClass: name}.
    static func selector(_ s: ScopedResourceSelectorRequirement) -> LabelSelector? {
        let key = s.scopeName ?? ""
        let values = s.values ?? []
        switch s.op {
        case "In": return LabelSelector(requirements: [LabelRequirement(key: key, op: .in, values: values)])
        case "NotIn": return LabelSelector(requirements: [LabelRequirement(key: key, op: .notIn, values: values)])
        case "Exists": return LabelSelector(requirements: [LabelRequirement(key: key, op: .exists, values: [])])
        case "DoesNotExist": return LabelSelector(requirements: [LabelRequirement(key: key, op: .doesNotExist, values: [])])
        default: return nil
        }
    }

    /// Pod (anti-)affinity terms that look at other namespaces.
    static func usesCrossNamespaceAffinity(_ spec: PodSpec) -> Bool {
        for affinity in [spec.affinity.podAffinity, spec.affinity.podAntiAffinity] {
            let required = affinity?["requiredDuringSchedulingIgnoredDuringExecution"]?.arrayValue ?? []
            let preferred = (affinity?["preferredDuringSchedulingIgnoredDuringExecution"]?.arrayValue ?? []).compactMap { $0["podAffinityTerm"] }
            for term in required + preferred {
                if !(term["namespaces"]?.arrayValue ?? []).isEmpty { return true }
                if let s = term["namespaceSelector"], !s.isNull { return true }
            }
        }
        return false
    }

    /// The quota's scopes, and its scope selector's expressions (getScopeSelectorsFromQuota).
    public static func scopeSelectors(_ quota: ResourceQuota) -> [ScopedResourceSelectorRequirement] {
        let scopes = (quota.spec.scopes ?? []).map { name -> ScopedResourceSelectorRequirement in
            var s = ScopedResourceSelectorRequirement()
            s.scopeName = name
            s.op = "Exists"
            return s
        }
        return scopes + quota.spec.scopeSelector.matchExpressions
    }

    /// generic.Matches: the quota (as its status enforces it) tracks something this object uses,
    /// and the object falls in every one of its scopes.
    public func matches(_ quota: ResourceQuota, _ object: JSONValue) -> Bool {
        guard !matchingResources((quota.status.hard ?? [:]).keys).isEmpty else { return false }
        return Self.scopeSelectors(quota).allSatisfy { matchesScope($0, object) }
    }

    // MARK: constraints

    /// Compute quotas (cpu, memory, their requests and limits) need every container to name
    /// the resource: `must specify limits.cpu for: a,b; requests.memory for: a` (Constraints).
    public func constraintViolation(required: Set<String>, _ object: JSONValue) -> String? {
        guard kind == .pods else { return nil }
        let checked = required.intersection(["cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"])
        guard !checked.isEmpty else { return nil }
        let pod = Pod(json: object)
        var missing: [String: Set<String>] = [:]
        for c in pod.spec.containers + pod.spec.initContainers {
            let has = Set(Self.computeUsage(requests: ResourceList(parsing: c.resources.requests), limits: ResourceList(parsing: c.resources.limits)).keys)
            for r in checked.subtracting(has) { missing[r, default: []].insert(c.name ?? "") }
        }
        guard !missing.isEmpty else { return nil }
        return "must specify " + missing.keys.sorted().map { "\($0) for: " + (missing[$0] ?? []).sorted().joined(separator: ",") }.joined(separator: "; ")
    }
}

extension QuotaEvaluator {
    /// What a namespace uses of a quota's spec.hard (quota.CalculateUsage): each evaluator's
    /// objects in every scope of the quota summed, every hard name present (0 when unused).
    /// `objects` gives one resource's objects of the quota's namespace.
    public static func usage(of quota: ResourceQuota, objects: (ResourceType) -> [JSONValue], now: Date) -> ResourceList {
        let hard = Set((quota.spec.hard ?? [:]).keys)
        let scopes = scopeSelectors(quota)
        var used: ResourceList = [:]
        for e in evaluators(for: hard) {
            let names = e.matchingResources(hard)
            var sum: ResourceList = Dictionary(uniqueKeysWithValues: names.map { ($0, Quantity.zero) })
            for o in objects(e.resource) where scopes.allSatisfy({ e.matchesScope($0, o) }) {
                sum = sum.adding(e.usage(o, now: now).masked(to: names))
            }
            used = used.adding(sum)
        }
        return used.masked(to: hard)
    }
}
