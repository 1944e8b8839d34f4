// Watch: a chunked stream of {"type":...,"object":...} lines. resourceVersion "" or "0" starts
// with the current state (ADDED events), a number resumes after it (410 Gone, as an ERROR event,
// once compacted). Selector filtering turns updates that enter or leave the selection into
// ADDED or DELETED, as the Kubernetes watch cache does. Bookmarks carry progress when asked.
import API
import CoreMetrics
import Foundation
import Store
import Synchronization

/// The last revision a watch has passed (read by its bookmark ticker).
final class WatchProgress: Sendable {
    let revision: Atomic<Int64>
    init(_ start: Int64) { revision = Atomic(start) }
}

extension KubernetesAPI {
    func watch(_ request: HTTPRequest, _ rr: ResourceRequest) async throws -> HTTPReply {
        let type = rr.type
        let filter = try filter(request, type)
        let table = wantsTable(request)
        let includeObject = request.query["includeObject"] ?? "Metadata"
        let bookmarks = request.query["allowWatchBookmarks"] == "true"
        let timeout = request.query["timeoutSeconds"].flatMap { Double($0) } ?? Double.random(in: 1800...3600)
        let prefix = ResourceStorage.listPrefix(type, namespace: rr.namespace)
        let rv = request.query["resourceVersion"] ?? ""

        var initial: [KeyValue] = []
        let startRevision: Int64
        if rv.isEmpty || rv == "0" {
            let list = try await store.list(prefix: prefix, limit: nil, continueAfter: nil, revision: nil)
            initial = list.items
            startRevision = list.revision
        } else {
            guard let n = Int64(rv) else { throw APIError.badRequest("invalid resourceVersion \"\(rv)\"") }
            startRevision = n
        }
        let events: AsyncThrowingStream<WatchEvent, Error>?
        var goneMessage: String?
        do {
            events = try await store.watch(prefix: prefix, fromRevision: startRevision)
        } catch let e as StoreError {
            guard case .compacted(let c) = e.code else { throw e }
            events = nil
            goneMessage = "too old resource version: \(startRevision) (\(c))"
        }

        let (chunks, continuation) = AsyncStream<[UInt8]>.makeStream(bufferingPolicy: .bufferingOldest(4096))
        let encoder = WatchEncoder(kind: type.kind, custom: type.custom, groupVersion: type.groupVersion, table: table,
                                   includeObject: includeObject)
        let open = metrics.watchOpened(rr)
        let sent = metrics.watchEventCounter(type)
        let task = Task {
            defer {
                open.decrement()
                continuation.finish()
            }
            var encoder = encoder
            if let goneMessage {
                continuation.yield(encoder.error(Status(code: 410, reason: "Expired", message: goneMessage)))
                return
            }
            for kv in initial {
                let obj = ObjectCodec.decode(kv.value, revision: kv.modRevision)
                if filter.matches(obj) {
                    continuation.yield(encoder.event("ADDED", stored: kv.value, revision: kv.modRevision, parsed: obj))
                    sent.increment()
                }
            }
            guard let events else { return }
            let progress = WatchProgress(startRevision)
            let deadline = Date().addingTimeInterval(timeout)
            // Bookmarks and the timeout are driven by a ticker merged into the event stream.
            let marker = encoder
            let ticker = Task {
                while !Task.isCancelled {
                    let remaining = deadline.timeIntervalSinceNow
                    try? await Task.sleep(for: .seconds(max(0, min(bookmarks ? 10 : 30, remaining))))
                    if Date() >= deadline { continuation.finish(); return }
                    if bookmarks { continuation.yield(marker.bookmark(revision: progress.revision.load(ordering: .relaxed))) }
                }
            }
            defer { ticker.cancel() }
            do {
                for try await event in events {
                    if Task.isCancelled { return }
                    progress.revision.store(event.revision, ordering: .relaxed)
                    if let chunk = encoder.encode(event, filter: filter) {
                        if case .terminated = continuation.yield(chunk) { return }
                        sent.increment()
                    }
                }
            } catch let e as StoreError where e.code == .watcherTooSlow {
                continuation.yield(encoder.error(Status(code: 410, reason: "Expired", message: "watch fell behind: \(e.message)")))
            } catch {
                continuation.yield(encoder.error(Status(code: 500, reason: "InternalError", message: "\(error)")))
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return .stream(status: .ok, contentType: "application/json", chunks: chunks)
    }
}

/// Encodes watch events; keeps whether the Table columns were sent (only the first event has them).
struct WatchEncoder: Sendable {
    let kind: String
    let custom: CustomResourceBehavior?
    let groupVersion: String
    let table: Bool
    let includeObject: String
    var sentColumns = false

    init(kind: String, custom: CustomResourceBehavior? = nil, groupVersion: String, table: Bool, includeObject: String) {
        self.kind = kind
        self.custom = custom
        self.groupVersion = groupVersion
        self.table = table
        self.includeObject = includeObject
    }

    mutating func event(_ type: String, stored: [UInt8], revision: Int64, parsed: JSONValue?) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(stored.count + 64)
        out.append(contentsOf: #"{"type":""#.utf8)
        out.append(contentsOf: type.utf8)
        out.append(contentsOf: #"","object":"#.utf8)
        if table {
            let obj = parsed ?? ObjectCodec.decode(stored, revision: revision)
            Tables.table([obj], kind: kind, custom: custom, resourceVersion: String(revision), continueToken: nil,
                         includeObject: includeObject, withColumns: !sentColumns).write(to: &out)
            sentColumns = true
        } else {
            ObjectCodec.render(stored, revision: revision, into: &out)
        }
        out.append(contentsOf: "}\n".utf8)
        return out
    }

    /// One store event as a watch line, or nil when the selection doesn't see it.
    mutating func encode(_ event: WatchEvent, filter: KubernetesAPI.Filter) -> [UInt8]? {
        switch event {
        case .put(let kv, let previous):
            if filter.isEverything {
                return self.event(previous == nil ? "ADDED" : "MODIFIED", stored: kv.value, revision: kv.modRevision, parsed: nil)
            }
            let now = ObjectCodec.decode(kv.value, revision: kv.modRevision)
            let nowMatches = filter.matches(now)
            let before = previous.map { ObjectCodec.decode($0.value, revision: $0.modRevision) }
            let beforeMatches = before.map { filter.matches($0) } ?? false
            switch (beforeMatches, nowMatches) {
            case (false, true): return self.event("ADDED", stored: kv.value, revision: kv.modRevision, parsed: now)
            case (true, true): return self.event("MODIFIED", stored: kv.value, revision: kv.modRevision, parsed: now)
            case (true, false): return self.event("DELETED", stored: previous!.value, revision: kv.modRevision, parsed: nil)
            case (false, false): return nil
            }
        case .delete(let previous, let revision):
            if !filter.isEverything {
                let before = ObjectCodec.decode(previous.value, revision: revision)
                if !filter.matches(before) { return nil }
            }
            return self.event("DELETED", stored: previous.value, revision: revision, parsed: nil)
        }
    }

    func bookmark(revision: Int64) -> [UInt8] {
        let obj: JSONValue = ["kind": .string(kind), "apiVersion": .string(groupVersion),
                              "metadata": ["resourceVersion": .string(String(revision))]]
        return Array(#"{"type":"BOOKMARK","object":"#.utf8) + obj.serialized() + Array("}\n".utf8)
    }

    func error(_ status: Status) -> [UInt8] {
        let body = (try? JSONReply.encoder.encode(status)).map { Array($0) } ?? []
        return Array(#"{"type":"ERROR","object":"#.utf8) + body + Array("}\n".utf8)
    }
}
