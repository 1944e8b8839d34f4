// pods/eviction (a policy/v1 or v1beta1 Eviction, JSON or protobuf): a delete that the pod's
// PodDisruptionBudget must allow, as pkg/registry/core/pod/storage/eviction.go does it.
// - Succeeded, Failed, Pending and already-deleting pods go at once: no budget is checked.
// - No budget selects the pod: a plain delete. More than one: 500, the subresource cannot choose.
// - A Ready pod takes a disruption: status.disruptionsAllowed is decremented and the pod noted in
//   status.disruptedPods by a compare-and-swap on the budget (retried on races) before the delete;
//   none left is a 429 that `kubectl drain` retries.
// - A pod that is not Ready goes without taking one when its budget is met (currentHealthy >=
//   desiredHealthy > 0) or its unhealthyPodEvictionPolicy is AlwaysAllow; the delete is then
//   pinned to the resourceVersion seen, so a pod that turned Ready meanwhile is not lost (429).
// The pod gets the DisruptionTarget condition just before its delete (graceful, as asked in
// deleteOptions). The answer is a 201 Status Success.
import API
import Foundation

extension KubernetesAPI {
    static let evictionRefused = "Cannot evict pod as it would violate the pod's disruption budget."

    func evict(_ request: HTTPRequest, namespace: String, name: String) async throws -> HTTPReply {
        let body = try parseBody(request)
        let apiVersion = body["apiVersion"]?.stringValue ?? "policy/v1", kind = body["kind"]?.stringValue ?? "Eviction"
        guard kind == "Eviction", apiVersion == "policy/v1" || apiVersion == "policy/v1beta1" else {
            throw APIError.badRequest("pods/eviction takes a policy/v1 Eviction, not \(apiVersion) \(kind)")
        }
        let eviction = Eviction(json: body)
        guard eviction.name == name else { throw APIError.badRequest("name in URL does not match name in Eviction object") }
        var options = ResourceStorage.DeleteOptions()
        options.merge(eviction.deleteOptions)
        if request.query["dryRun"] == "All" { options.dryRun = true }
        try options.checkPropagation()
        let pinnedByClient = options.preconditionResourceVersion != nil

        // Pods past caring about budgets are deleted straight away (retrying a race with their writers).
        var pod = Pod()
        for attempt in 0... {
            pod = Pod(json: try await storage.get(Pod.resource, namespace: namespace, name: name).object)
            guard pod.status.phase == .succeeded || pod.status.phase == .failed || pod.status.phase == .pending || pod.isBeingDeleted else { break }
            var pinned = options
            // A pending pod could start and turn Ready: delete the one that was seen.
            if !pod.isTerminal, !pod.isBeingDeleted, !pinnedByClient { pinned.preconditionResourceVersion = pod.metadata.resourceVersion }
            do {
                try await markAndDelete(namespace: namespace, name: name, options: pinned)
                return JSONReply.status(.success(code: 201))
            } catch let e as APIError where e.status.code == 409 && !pinnedByClient && attempt < 8 {
                continue
            }
        }

        let budgets = try await storage.list(PodDisruptionBudget.resource, namespace: namespace).map(PodDisruptionBudget.init(json:)).filter { pdb in
            guard let selector = PolicyRules.selector(pdb), !selector.requirements.isEmpty else { return false }   // empty: matches nothing here
            return selector.matches(pod.metadata.labels ?? [:])
        }
        if budgets.count > 1 {
            var s = Status(code: 500, reason: "", message: "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.")
            s.reason = nil
            throw APIError(s)
        }
        var pinToSeen = false
        if let pdb = budgets.first {
            let current = pdb.status.currentHealthy ?? 0, desired = pdb.status.desiredHealthy ?? 0
            if !pod.isReady && (pdb.spec.unhealthyPodEvictionPolicy == .alwaysAllow || (current >= desired && desired > 0)) {
                pinToSeen = true   // it is not counted as healthy: no disruption to take
            } else {
                try await takeDisruption(pdb, namespace: namespace, pod: name, dryRun: options.dryRun)
            }
        }
        var deleteOptions = options
        if pinToSeen { deleteOptions.preconditionResourceVersion = pod.metadata.resourceVersion }
        do {
            try await markAndDelete(namespace: namespace, name: name, options: deleteOptions)
        } catch let e as APIError where e.status.code == 409 && pinToSeen && !pinnedByClient {
            throw Self.stillProcessing(budgets.first?.name ?? "")
        }
        return JSONReply.status(.success(code: 201))
    }

    /// checkAndDecrement, as a compare-and-swap of the budget's status (re-read on a race).
    func takeDisruption(_ pdb: PodDisruptionBudget, namespace: String, pod: String, dryRun: Bool) async throws {
        _ = try await storage.guaranteedUpdate(PodDisruptionBudget.resource, namespace: namespace, name: pdb.name, target: .status,
                                               dryRun: dryRun) { current in
            var budget = PodDisruptionBudget(json: current)
            let status = budget.status
            let allowed = status.disruptionsAllowed ?? 0
            if (status.observedGeneration ?? 0) < (budget.metadata.generation ?? 0) { throw Self.stillProcessing(budget.name) }
            if allowed < 0 { throw Self.budgetForbidden(budget.name, "pdb disruptions allowed is negative") }
            if (status.disruptedPods ?? [:]).count > 2000 {
                throw Self.budgetForbidden(budget.name, "DisruptedPods map too big - too many evictions not confirmed by PDB controller")
            }
            if allowed == 0 {
                throw APIError(.tooManyRequests(Self.evictionRefused, cause: ("DisruptionBudget",
                    "The disruption budget \(budget.name) needs \(status.desiredHealthy ?? 0) healthy pods and has \(status.currentHealthy ?? 0) currently")))
            }
            let now = Date()
            budget.status.disruptionsAllowed = allowed - 1
            if allowed == 1 { budget.status.updateDisruptionAllowedCondition(now: now) }
            budget.status.disruptedPods = (status.disruptedPods ?? [:]).merging([pod: now]) { $1 }
            budget.metadata.resourceVersion = nil   // a race re-reads the budget rather than failing
            return budget.json
        }
    }

    /// addConditionAndDeletePod: the DisruptionTarget condition on the pod as it is now (checked
    /// against the preconditions), then the delete (its resourceVersion precondition following our write).
    func markAndDelete(namespace: String, name: String, options: ResourceStorage.DeleteOptions) async throws {
        var options = options
        if !options.dryRun {
            let marked = try await storage.guaranteedUpdate(Pod.resource, namespace: namespace, name: name, target: .status) { current in
                var pod = Pod(json: current)
                func conflict(_ why: String) -> APIError {
                    APIError(Status(code: 409, reason: "Conflict", message: "Operation cannot be fulfilled on Pod \"\(name)\": \(why)"))
                }
                if let uid = options.preconditionUID, !uid.isEmpty, uid != pod.uid {
                    throw conflict("the UID in the precondition (\(uid)) does not match the UID in record (\(pod.uid)). The object might have been deleted and then recreated")
                }
                if let rv = options.preconditionResourceVersion, !rv.isEmpty, rv != pod.metadata.resourceVersion {
                    throw conflict("the ResourceVersion in the precondition (\(rv)) does not match the ResourceVersion in record (\(pod.metadata.resourceVersion ?? "")). The object might have been modified")
                }
                pod.status.setCondition(PolicyRules.disruptionTargetCondition, .true, reason: "EvictionByEvictionAPI",
                                        message: "Eviction API: evicting", now: Date())
                pod.metadata.resourceVersion = nil
                return pod.json
            }
            if options.preconditionResourceVersion != nil { options.preconditionResourceVersion = String(marked.revision) }
        }
        _ = try await storage.delete(Pod.resource, namespace: namespace, name: name, options: options)
    }

    static func stillProcessing(_ budget: String) -> APIError {
        APIError(.tooManyRequests(evictionRefused, cause: ("DisruptionBudget", "The disruption budget \(budget) is still being processed by the server."),
                                  retryAfterSeconds: 10))
    }

    static func budgetForbidden(_ budget: String, _ why: String) -> APIError {
        APIError(.forbidden(group: "policy", resource: "poddisruptionbudget", name: budget,
                            message: "poddisruptionbudget.policy \"\(budget)\" is forbidden: \(why)"))
    }
}
