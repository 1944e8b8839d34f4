// ResourceQuota admission over the store. Writes that charge a namespace's quotas are decided
// in batches, as kube-apiserver's quota evaluator does: every charge waiting when a batch starts
// is checked in arrival order against the quotas as the ones before it left them (API's
// QuotaAdmission), then each changed quota is written once with a compare-and-swap on the
// revision it was read at. Two creates can never both take the last unit, and 50 parallel
// creates cost a few quota writes rather than 50 in a row. A lost swap (another master, the
// quota controller) reads again and decides again for the quotas not yet written. A write that
// fails after its charge gives it back; what a crash leaks in between, the controller's recount
// corrects.
import API
import Foundation
import Store

/// What one admitted write charged, quota by quota (store key → the amounts added).
struct QuotaCharges: Sendable {
    var entries: [(key: String, charge: ResourceList)] = []
}

/// One write waiting for its namespace's next batch.
struct QuotaRequest: Sendable {
    var object: JSONValue
    var old: JSONValue?
    var evaluator: QuotaEvaluator
    var name: String
}

/// Per namespace: the requests waiting, and whether a batch is being decided (then new ones wait
/// for the next).
actor QuotaBatches {
    typealias Decide = @Sendable (_ namespace: String, _ batch: [QuotaRequest]) async -> [Result<QuotaCharges, Error>]
    private var waiting: [String: [(QuotaRequest, CheckedContinuation<QuotaCharges, Error>)]] = [:]
    private var draining = Set<String>()

    func charge(_ request: QuotaRequest, namespace: String, decide: @escaping Decide) async throws -> QuotaCharges {
        try await withCheckedThrowingContinuation { c in
            waiting[namespace, default: []].append((request, c))
            if draining.insert(namespace).inserted { Task { await drain(namespace, decide) } }
        }
    }

    private func drain(_ namespace: String, _ decide: Decide) async {
        while let batch = waiting.removeValue(forKey: namespace), !batch.isEmpty {
            let results = await decide(namespace, batch.map(\.0))   // (arrivals meanwhile wait for the next round)
            for ((_, c), result) in zip(batch, results) { c.resume(with: result) }
        }
        draining.remove(namespace)
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
        let request = QuotaRequest(object: obj, old: old, evaluator: evaluator, name: obj["metadata"]?["name"]?.stringValue ?? "")
        // Most writes change no quota: the cache tells. What it would charge or refuse is decided
        // again on the store's values.
        let cached = try await quotas(namespace, fresh: false).map(\.quota)
        if (try? QuotaAdmission.check(cached, evaluator: evaluator, object: obj, old: old, now: Date()))?.isEmpty == true { return QuotaCharges() }
        if dryRun {
            _ = try decide(request, try await quotas(namespace).map(\.quota))
            return QuotaCharges()
        }
        return try await quotaBatches.charge(request, namespace: namespace) { [self] namespace, batch in
            await chargeBatch(namespace, batch)
        }
    }

    /// Decides a batch and writes its charges (see the top of the file); one result per request.
    func chargeBatch(_ namespace: String, _ batch: [QuotaRequest]) async -> [Result<QuotaCharges, Error>] {
        var results = [Result<QuotaCharges, Error>?](repeating: nil, count: batch.count)
        var written = [QuotaCharges](repeating: QuotaCharges(), count: batch.count)   // charges already stored
        var pending: Set<String>?   // after a lost swap: the quotas still to write
        for _ in 0..<16 {
            let current: [(quota: ResourceQuota, revision: Int64)]
            do { current = try await quotas(namespace).filter { pending?.contains($0.quota.name) ?? true } } catch {
                return await finish(batch, results, written, failing: error)
            }
            // Each request in turn against the quotas as the earlier ones left them.
            var working = Dictionary(uniqueKeysWithValues: current.map { ($0.quota.name, $0.quota) })
            var charged: [Int: [(name: String, charge: ResourceList)]] = [:]
            for i in batch.indices where results[i] == nil {
                do {
                    for q in try decide(batch[i], Array(working.values)) {
                        if let before = working[q.name] { charged[i, default: []].append((q.name, QuotaAdmission.charge(from: before, to: q))) }
                        working[q.name] = q
                    }
                } catch {
                    results[i] = .failure(error)
                }
            }
            // Each changed quota written once.
            var lost = Set<String>()
            for (q, revision) in current {
                guard let after = working[q.name], after.status.used != q.status.used else { continue }
                let key = Self.key(ResourceQuota.resource, namespace: namespace, name: q.name)
                do {
                    _ = try await store.update(key, value: ObjectCodec.encodeForStorage(after.json), expectedModRevision: revision)
                    admissionCache.written(ResourceQuota.resource, namespace: namespace)
                    for (i, charges) in charged { for c in charges where c.name == q.name { written[i].entries.append((key, c.charge)) } }
                } catch let e as StoreError where isConflict(e) {
                    lost.insert(q.name)
                } catch let e as StoreError where e.code == .notFound {
                    continue   // (a quota deleted meanwhile limits nothing)
                } catch {
                    return await finish(batch, results, written, failing: error)
                }
            }
            if lost.isEmpty { return await finish(batch, results, written, failing: nil) }
            pending = lost
        }
        let conflict = APIError(.conflict(group: "", resource: ResourceQuota.resource.plural, name: pending?.sorted().first ?? ""))
        return await finish(batch, results, written, failing: conflict)
    }

    /// The batch's answers: the admitted get what they were charged; the refused (and, with
    /// `failing`, the undecided) get their error and their stored charges back.
    private func finish(_ batch: [QuotaRequest], _ results: [Result<QuotaCharges, Error>?], _ written: [QuotaCharges],
                        failing: Error?) async -> [Result<QuotaCharges, Error>] {
        var out: [Result<QuotaCharges, Error>] = []
        for i in batch.indices {
            let result = results[i] ?? (failing.map { .failure($0) } ?? .success(written[i]))
            if case .failure = result { await refund(written[i]) }
            out.append(result)
        }
        return out
    }

    /// The quotas one request would charge, with their new usage; a refusal as its Status.
    private func decide(_ request: QuotaRequest, _ quotas: [ResourceQuota]) throws -> [ResourceQuota] {
        do {
            return try QuotaAdmission.check(quotas, evaluator: request.evaluator, object: request.object, old: request.old, now: Date())
        } catch let refusal as AdmissionRefusal {
            if !refusal.forbidden { throw APIError(Status(code: 500, reason: "", message: refusal.message)) }
            throw Self.admissionForbidden(request.evaluator.resource, request.name, refusal.message)
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
