// Fans committed events out to watchers. Each watcher has a bounded buffer: one that falls too
// far behind is closed with `watcherTooSlow` rather than slowing every writer down.
import Synchronization

final class WatchHub: Sendable {
    private struct Watcher {
        let prefix: String
        let continuation: AsyncThrowingStream<WatchEvent, Error>.Continuation
        /// Live events at or below this revision were already replayed from history.
        var floor: Int64 = 0
    }

    private let watchers = Mutex<[Int: Watcher]>([:])
    private let nextID = Atomic<Int>(0)
    let bufferLimit: Int

    init(bufferLimit: Int = 10_000) { self.bufferLimit = bufferLimit }

    /// A new stream and the function that feeds history into it before live events.
    func subscribe(prefix: String) -> (stream: AsyncThrowingStream<WatchEvent, Error>, id: Int) {
        let (stream, continuation) = AsyncThrowingStream<WatchEvent, Error>.makeStream(bufferingPolicy: .bufferingOldest(bufferLimit))
        let id = nextID.wrappingAdd(1, ordering: .relaxed).newValue
        watchers.withLock { $0[id] = Watcher(prefix: prefix, continuation: continuation) }
        continuation.onTermination = { [weak self] _ in self?.remove(id) }
        return (stream, id)
    }

    func setFloor(_ id: Int, _ revision: Int64) {
        watchers.withLock { $0[id]?.floor = revision }
    }

    func remove(_ id: Int) { _ = watchers.withLock { $0.removeValue(forKey: id) } }

    /// Sends to one watcher (history replay); false if its buffer overflowed and it was closed.
    @discardableResult
    func send(_ event: WatchEvent, to id: Int) -> Bool {
        guard let w = watchers.withLock({ $0[id] }) else { return false }
        return deliver(event, to: w, id: id)
    }

    func publish(_ events: [WatchEvent]) {
        let current = watchers.withLock { $0 }
        for (id, w) in current {
            for e in events where e.revision > w.floor && e.key.hasPrefix(w.prefix) {
                if !deliver(e, to: w, id: id) { break }
            }
        }
    }

    private func deliver(_ event: WatchEvent, to w: Watcher, id: Int) -> Bool {
        switch w.continuation.yield(event) {
        case .enqueued: return true
        case .dropped:
            w.continuation.finish(throwing: StoreError(.watcherTooSlow, "watch on \(w.prefix) fell more than \(bufferLimit) events behind"))
            remove(id)
            return false
        case .terminated:
            remove(id)
            return false
        @unknown default:
            return false
        }
    }

    /// Ends every watch with `error` (e.g. its history was compacted away: clients relist).
    func failAll(_ error: Error) {
        let all = watchers.withLock { w in defer { w.removeAll() }; return w }
        for (_, w) in all { w.continuation.finish(throwing: error) }
    }

    func closeAll() {
        let all = watchers.withLock { w in defer { w.removeAll() }; return w }
        for (_, w) in all { w.continuation.finish() }
    }
}
