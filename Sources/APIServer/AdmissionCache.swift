// What admission reads on every create — a namespace's LimitRanges and ResourceQuotas, the
// PriorityClasses — kept in memory so a pod create does not read three more lists from the
// store. An entry is dropped when this server writes an object under it (a client sees its own
// write at once) and is at most a second old otherwise (another master's write shows within
// it, as an informer's lag would). Quota charges never rest on it alone: whatever it suggests
// charging or refusing is decided again on the store's own values (QuotaCharging.swift).
import API
import Foundation
import Store
import Synchronization

final class AdmissionCache: Sendable {
    static let maxAge: TimeInterval = 1
    static let kinds: Set<String> = [LimitRange.kind, ResourceQuota.kind, PriorityClass.kind]

    /// An object as stored, parsed once, with its revision.
    typealias Item = (object: JSONValue, revision: Int64)

    struct Entry {
        var items: [Item]
        var loaded: Date
    }

    struct State {
        var entries: [String: Entry] = [:]
        /// Bumped by every drop, so a list read before a write is not kept after it.
        var generations: [String: Int] = [:]
    }

    let store: any KeyValueStore
    private let state = Mutex(State())

    init(store: any KeyValueStore) { self.store = store }

    /// The objects stored under `prefix` (with their revisions), from memory when fresh.
    func items(under prefix: String) async throws -> [Item] {
        let now = Date()
        let (cached, generation) = state.withLock { s in (s.entries[prefix], s.generations[prefix, default: 0]) }
        if let cached, now.timeIntervalSince(cached.loaded) < Self.maxAge { return cached.items }
        let page = try await store.list(prefix: prefix, limit: nil, continueAfter: nil, revision: nil)
        let items = page.items.map { (ObjectCodec.decode($0.value, revision: $0.modRevision), $0.modRevision) }
        state.withLock { s in
            guard s.generations[prefix, default: 0] == generation else { return }
            if s.entries.count > 4096 { s.entries = s.entries.filter { now.timeIntervalSince($0.value.loaded) < Self.maxAge } }
            s.entries[prefix] = Entry(items: items, loaded: now)
        }
        return items
    }

    /// This server wrote an object of `type`: its namespace's (or the kind's) entry goes.
    func written(_ type: ResourceType, namespace: String?) {
        guard Self.kinds.contains(type.kind) else { return }
        let prefix = ResourceStorage.listPrefix(type, namespace: namespace)
        state.withLock { s in
            s.entries[prefix] = nil
            s.generations[prefix, default: 0] += 1
        }
    }
}
