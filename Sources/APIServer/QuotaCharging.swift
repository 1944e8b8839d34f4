// ResourceQuota admission over the store. The namespace's quotas are read, the object checked
// against them (API's QuotaAdmission), and each charged quota's new status.used written with a
// compare-and-swap on the revision it was read at: two creates can never both take the last
// unit. A lost swap (another master, the quota controller) reads again and decides again for
// the quotas not yet charged. Charges of one namespace are taken one at a time inside this
// server, so parallel creates queue instead of retrying against each other. A write that fails
// after its quotas were charged gives the charge back; what a crash leaks in between, the quota
// controller's recount corrects.
import API
import Foundation
import Store

/// What one admitted write charged, quota by quota (store key → the amounts added).
struct QuotaCharges: Sendable {
    var entries: [(key: String, charge: ResourceList)] = []
}

/// One holder per key, waiters served in arrival order.
actor KeyedLock {
    private var held = Set<String>()
    private var waiters: [String: [CheckedContinuation<Void, Never>]] = [:]

    func lock(_ key: String) async {
        if held.insert(key).inserted { return }
        await withCheckedContinuation { waiters[key, default: []].append($0) }
    }

    func unlock(_ key: String) {
        guard var queue = waiters[key], !queue.isEmpty else { held.remove(key); return }
        let next = queue.removeFirst()
        waiters[key] = queue.isEmpty ? nil : queue
        next.resume()   // the key stays held: it passes to the next waiter
    }
}

extension ResourceStorage {
    /// The quotas of a namespace, each with the revision it was read at: as the store has them
    /// now (`fresh`), or as admission's cache last saw them.
    func quotas(_ namespace: String, fresh: Bool = true) async throws -> [(quota: ResourceQuota, revision: Int64)] {
        let prefix = Self.listPrefix(ResourceQuota.resource, namespace: namespace)
        guard fresh else { return try await admissionCache.items(under: prefix).map { (ResourceQuota(json: $0.object), $0.revision) } }
        let items = try await store.list(prefix: prefix, limit: nil, continueAfter: nil, revision: nil).items
        return items.map { (ResourceQuota(json: ObjectCodec.decode($0.value, revision: $0.modRevision)), $0.modRevision) }
    }

    /// Checks a create (or, for services and claims, an update from `old`) against the
    /// namespace's quotas and charges them; a dry run checks only.
    func chargeQuota(_ obj: JSONValue, old: JSONValue?, type: ResourceType, dryRun: Bool) async throws -> QuotaCharges {
        let evaluator = QuotaEvaluator.forResource(type)
        // Events are never counted; of updates, only services' and claims' change what they use.
        guard type.namespaced, type.kind != "Event", old == nil || evaluator.kind == .services || evaluator.kind == .claims,
              let namespace = obj["metadata"]?["namespace"]?.stringValue else { return QuotaCharges() }
        let name = obj["metadata"]?["name"]?.stringValue ?? ""
        // Most writes change no quota: the cache tells, without the lock. What it would charge
        // or refuse is decided again on the store's values, under the lock.
        let cached = try await quotas(namespace, fresh: false).map(\.quota)
        if (try? QuotaAdmission.check(cached, evaluator: evaluator, object: obj, old: old, now: Date()))?.isEmpty == true { return QuotaCharges() }
        if dryRun {
            _ = try await decide(try await quotas(namespace).map(\.quota), evaluator, obj, old, name, charges: QuotaCharges())
            return QuotaCharges()
        }
        await quotaLocks.lock(namespace)
        do {
            let charges = try await charge(obj, old: old, evaluator: evaluator, namespace: namespace, name: name)
            await quotaLocks.unlock(namespace)
            return charges
        } catch {
            await quotaLocks.unlock(namespace)
            throw error
        }
    }

    private func charge(_ obj: JSONValue, old: JSONValue?, evaluator: QuotaEvaluator, namespace: String,
                        name: String) async throws -> QuotaCharges {
        var charges = QuotaCharges()
        var pending: Set<String>?   // after a lost swap: the quotas still to charge
        for _ in 0..<16 {
            let current = try await quotas(namespace)
            let considered = current.filter { pending?.contains($0.quota.name) ?? true }
            let updated = try await decide(considered.map(\.quota), evaluator, obj, old, name, charges: charges)
            var lost = Set<String>()
            for q in updated {
                guard let before = considered.first(where: { $0.quota.name == q.name }) else { continue }
                let key = Self.key(ResourceQuota.resource, namespace: namespace, name: q.name)
                do {
                    _ = try await store.update(key, value: ObjectCodec.encodeForStorage(q.json), expectedModRevision: before.revision)
                    admissionCache.written(ResourceQuota.resource, namespace: namespace)
                    charges.entries.append((key, QuotaAdmission.charge(from: before.quota, to: q)))
                } catch let e as StoreError where isConflict(e) || e.code == .notFound {
                    if e.code != .notFound { lost.insert(q.name) }   // (a quota deleted meanwhile limits nothing)
                }
            }
            if lost.isEmpty { return charges }
            pending = lost
        }
        await refund(charges)
        throw APIError(.conflict(group: ResourceQuota.resource.group, resource: ResourceQuota.resource.plural, name: pending?.sorted().first ?? ""))
    }

    /// The quotas the write would charge, with their new usage; a refusal (after giving back
    /// what was already charged) as its Status.
    private func decide(_ quotas: [ResourceQuota], _ evaluator: QuotaEvaluator, _ obj: JSONValue, _ old: JSONValue?, _ name: String,
                        charges: QuotaCharges) async throws -> [ResourceQuota] {
        do {
            return try QuotaAdmission.check(quotas, evaluator: evaluator, object: obj, old: old, now: Date())
        } catch let refusal as AdmissionRefusal {
            await refund(charges)
            if !refusal.forbidden { throw APIError(Status(code: 500, reason: "", message: refusal.message)) }
            throw Self.admissionForbidden(evaluator.resource, name, refusal.message)
        }
    }

    /// Gives charges back (the write they were for did not happen); best effort, never below zero.
    func refund(_ charges: QuotaCharges) async {
        for (key, charge) in charges.entries {
            for _ in 0..<8 {
                guard let kv = try? await store.get(key) else { break }
                let q = ResourceQuota(json: ObjectCodec.decode(kv.value, revision: kv.modRevision))
                let back = QuotaAdmission.refund(q, charge)
                do {
                    _ = try await store.update(key, value: ObjectCodec.encodeForStorage(back.json), expectedModRevision: kv.modRevision)
                    admissionCache.written(ResourceQuota.resource, namespace: q.metadata.namespace)
                    break
                } catch let e as StoreError where isConflict(e) {
                    continue
                } catch {
                    break
                }
            }
        }
    }
}
