// The ResourceQuota admission's decision (apiserver's resourcequota CheckRequest): which of a
// namespace's quotas a new or changed object falls under, whether its usage fits what they have
// left, and the quotas' status.used with it charged. The API server stores those with a
// compare-and-swap on each quota, so concurrent creates never both take the last unit.
import Foundation

/// An admission plugin's refusal in Kubernetes' words (the API server puts `pods "x" is
/// forbidden: ` in front of `forbidden` ones; the others are 500s with the message as is).
public struct AdmissionRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var forbidden: Bool
    public var description: String { message }

    public init(message: String, forbidden: Bool = true) {
        self.message = message
        self.forbidden = forbidden
    }
}

public enum QuotaAdmission {
    /// An admission configuration entry (resourcequota.admission.k8s.io LimitedResource): objects
    /// of the resource in these scopes need a quota that covers the scope in their namespace.
    public struct LimitedResource: Sendable {
        public var resource: String
        public var matchScopes: [ScopedResourceSelectorRequirement]
    }

    /// Skiff's configuration: none, as kube-apiserver ships (pods of any priority class are
    /// admitted in any namespace). The check stays for configurations that limit some scope.
    public static let limitedResources: [LimitedResource] = []

    /// A limit some providers configure (GKE): pods of the system priority classes only where a
    /// quota covers those classes.
    public static let systemClassesLimit: LimitedResource = {
        var s = ScopedResourceSelectorRequirement()
        s.scopeName = "PriorityClass"
        s.op = "In"
        s.values = [GovernanceRules.systemNodeCritical, GovernanceRules.systemClusterCritical]
        return LimitedResource(resource: "pods", matchScopes: [s])
    }()

    /// Decides on `object` (created, or replacing `old`): returns the quotas whose status.used
    /// changes, with the new usage, or throws the refusal.
    public static func check(_ quotas: [ResourceQuota], evaluator: QuotaEvaluator, object: JSONValue, old: JSONValue?,
                             limited: [LimitedResource] = limitedResources, now: Date) throws(AdmissionRefusal) -> [ResourceQuota] {
        let limitedScopes = limited.flatMap { evaluator.matchingScopes(object, $0.matchScopes) }
        if quotas.isEmpty && limitedScopes.isEmpty { return [] }   // (most namespaces)
        var covered: [ScopedResourceSelectorRequirement] = []
        var interesting: [ResourceQuota] = []
        for q in quotas.sorted(by: { $0.name < $1.name }) {
            covered += evaluator.matchingScopes(object, QuotaEvaluator.scopeSelectors(q))
            guard evaluator.matches(q, object) else { continue }
            let tracked = evaluator.matchingResources((q.status.hard ?? [:]).keys)
            if let why = evaluator.constraintViolation(required: tracked, object) {
                throw AdmissionRefusal(message: "failed quota: \(q.name): \(why)")
            }
            let used = q.status.used ?? [:]
            if (q.status.hard ?? [:]).keys.contains(where: { tracked.contains($0) && used[$0] == nil }) {
                throw AdmissionRefusal(message: "status unknown for quota: \(q.name), resources: \(tracked.sorted().joined(separator: ","))")
            }
            interesting.append(q)
        }
        let usage = evaluator.usage(object, now: now)
        let negative = usage.negativeNames
        if !negative.isEmpty { throw AdmissionRefusal(message: "quota usage is negative for resource(s): \(negative.joined(separator: ","))") }
        // An update is charged what it adds, where the quota already counted the old object.
        let oldUsage = old.map { evaluator.usage($0, now: now) }
        func added(_ before: ResourceList?) -> ResourceList {
            guard let before else { return usage.withoutZeros }
            return usage.subtracting(before).mapValues { $0.isNegative ? .zero : $0 }.withoutZeros
        }
        let deltas = interesting.map { q in (q, added(old.flatMap { evaluator.matches(q, $0) ? oldUsage : nil })) }
        if interesting.isEmpty ? added(oldUsage).isEmpty : deltas.allSatisfy({ $0.1.isEmpty }) { return [] }
        let uncovered = limitedScopes.filter { s in !covered.contains { $0.scopeName == s.scopeName } }
        if !uncovered.isEmpty {
            let shown = uncovered.map { "{\($0.scopeName ?? "") \($0.op ?? "") [\(($0.values ?? []).joined(separator: " "))]}" }
            throw AdmissionRefusal(message: "insufficient quota to match these scopes: [\(shown.joined(separator: " "))]", forbidden: false)
        }
        var out: [ResourceQuota] = []
        for (q, delta) in deltas where !delta.isEmpty {
            let hard = ResourceList(parsing: q.status.hard), used = ResourceList(parsing: q.status.used)
            let requested = delta.masked(to: Set(hard.keys))
            guard !requested.isEmpty else { continue }
            let newUsed = used.adding(requested)
            let (ok, exceeded) = newUsed.masked(to: Set(requested.keys)).isWithin(hard)
            if !ok {
                throw AdmissionRefusal(message: "exceeded quota: \(q.name), requested: \(requested.masked(to: exceeded).prettyPrinted), "
                                   + "used: \(used.masked(to: exceeded).prettyPrinted), limited: \(hard.masked(to: exceeded).prettyPrinted)")
            }
            var updated = q
            updated.status.used = newUsed.rendered
            out.append(updated)
        }
        return out
    }

    /// The quota with `charged` taken back from status.used (a write that failed after its
    /// quotas were charged); never below zero.
    public static func refund(_ quota: ResourceQuota, _ charged: ResourceList) -> ResourceQuota {
        var q = quota
        let used = ResourceList(parsing: q.status.used)
        q.status.used = used.subtracting(charged.masked(to: Set(used.keys))).mapValues { $0.isNegative ? .zero : $0 }.rendered
        return q
    }

    /// What one charge added to one quota: its new usage minus the old.
    public static func charge(from before: ResourceQuota, to after: ResourceQuota) -> ResourceList {
        ResourceList(parsing: after.status.used).subtracting(ResourceList(parsing: before.status.used)).withoutZeros
    }
}
