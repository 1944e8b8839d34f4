// Answers that depend only on a kind and a field path (how a list merges), computed once. Every
// list of every patch and apply asks, and the first answer walks the OpenAPI definitions from the
// kind down the path; a 200-container Deployment asks about a thousand times per write.
import Synchronization

final class PathMemo<Value: Sendable>: Sendable {
    private struct Key: Hashable {
        var kind: String
        var parents: [String]
        var field: String
    }

    private let table = Mutex<[Key: Value]>([:])
    /// Paths come from objects' own field names, so the table is bounded: past this many answers,
    /// new paths are computed each time instead of remembered.
    private let capacity: Int

    init(capacity: Int = 8192) { self.capacity = capacity }

    func value(kind: String, parents: [String], field: String, compute: () -> Value) -> Value {
        let key = Key(kind: kind, parents: parents, field: field)
        if let known = table.withLock({ $0[key] }) { return known }
        let value = compute()
        table.withLock { if $0.count < capacity { $0[key] = value } }
        return value
    }
}
