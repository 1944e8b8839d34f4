// Admission for resource governance, in kube-apiserver's plugin order (docs/architecture.md):
// mutating — LimitRanger's container defaults, then (after ServiceAccount) Priority's pod
// priority; validating, after the object's own validation — LimitRanger's bounds, Priority's
// one-default rule for classes, and ResourceQuota (QuotaCharging.swift), last before storage.
// Also the built-in PriorityClasses, which cannot be deleted.
import API
import Store

extension ResourceStorage {
    /// `pods "web" is forbidden: <why>` (admission.NewForbidden; a generateName stands in for a name).
    static func admissionForbidden(_ type: ResourceType, _ name: String, _ why: String) -> APIError {
        let resource = type.group.isEmpty ? type.plural : type.plural + "." + type.group
        let message = name.isEmpty ? "\(resource) is forbidden: \(why)" : "\(resource) \"\(name)\" is forbidden: \(why)"
        return APIError(.forbidden(group: type.group, resource: type.plural, name: name.isEmpty ? nil : name, message: message))
    }

    func limitRanges(_ namespace: String) async throws -> [LimitRange] {
        try await admissionCache.items(under: Self.listPrefix(LimitRange.resource, namespace: namespace))
            .map { LimitRange(json: $0.object) }.sorted { $0.name < $1.name }
    }

    func priorityClasses() async throws -> [PriorityClass] {
        try await admissionCache.items(under: Self.listPrefix(PriorityClass.resource, namespace: nil))
            .map { PriorityClass(json: $0.object) }
    }

    // MARK: mutating

    /// LimitRanger's defaults for a new pod's containers (from every LimitRange of the namespace).
    func admitLimitRangeDefaults(_ obj: inout JSONValue, namespace: String) async throws {
        let ranges = try await limitRanges(namespace)
        guard !ranges.isEmpty else { return }
        var pod = Pod(json: obj)
        for lr in ranges { LimitRanger.applyDefaults(&pod, lr) }
        obj = pod.json
    }

    /// Priority: the pod's class resolved to spec.priority and preemptionPolicy (403 for a class
    /// that does not exist or a priority that disagrees with it).
    func admitPriority(_ obj: inout JSONValue, name: String) async throws {
        var pod = Pod(json: obj)
        do {
            try PriorityAdmission.admit(&pod, classes: try await priorityClasses())
        } catch let refusal as AdmissionRefusal {
            throw Self.admissionForbidden(Pod.resource, name, refusal.message)
        }
        obj = pod.json
    }

    // MARK: validating

    /// LimitRanger's bounds and Priority's default rule for a new (or, for claims, changed) object.
    func admitGovernance(_ obj: JSONValue, type: ResourceType) async throws {
        let name = obj["metadata"]?["name"]?.stringValue ?? ""
        switch type.kind {
        case Pod.kind, PersistentVolumeClaim.kind:
            let ns = obj["metadata"]?["namespace"]?.stringValue ?? ""
            for lr in try await limitRanges(ns) {
                let violations = type.kind == Pod.kind ? LimitRanger.podViolations(Pod(json: obj), lr)
                                                       : LimitRanger.claimViolations(PersistentVolumeClaim(json: obj), lr)
                if !violations.isEmpty { throw Self.admissionForbidden(type, name, LimitRanger.message(violations)) }
            }
        case PriorityClass.kind:
            do {
                try PriorityAdmission.checkDefault(PriorityClass(json: obj), existing: try await priorityClasses())
            } catch let refusal as AdmissionRefusal {
                throw Self.admissionForbidden(type, name, refusal.message)
            }
        default: break
        }
    }

    /// The built-in classes are there for good (the PriorityClass REST storage's Delete).
    func refuseSystemClassDeletion(_ type: ResourceType, name: String) throws {
        guard type.kind == PriorityClass.kind, GovernanceRules.systemPriorityClasses.contains(where: { $0.name == name }) else { return }
        throw Self.admissionForbidden(type, name, "this is a system priority class and cannot be deleted")
    }

    // MARK: bootstrap

    /// system-node-critical and system-cluster-critical.
    func ensureSystemPriorityClasses() async {
        for pc in GovernanceRules.systemPriorityClasses { _ = try? await create(PriorityClass.resource, namespace: nil, body: pc.json) }
    }
}
