// GET /containerLogs/{namespace}/{pod}/{container}: the container's CRI log as plain text, with
// the kubelet's options — follow, tailLines, sinceSeconds/sinceTime, timestamps, previous,
// limitBytes. Served from a thread of its own (following blocks), written back through the
// channel in batches, each batch waited for (back-pressure on a slow client).
import API
import Foundation
import NIOCore
import NIOHTTP1
import Runtime

struct NodeLogs {
    let agent: NodeAgent

    func serve(namespace: String, pod: String, container: String, request: NodeRequest, channel: Channel, head: HTTPRequestHead) {
        let previous = request.flag("previous")
        guard let found = agent.findContainer(namespace: namespace, pod: pod, container: container, previous: previous) else {
            let what = previous ? "previous terminated container" : "container"
            NodeHTTPHandler.send(channel, status: .notFound, contentType: "text/plain",
                                 body: Array("\(what) \"\(container)\" in pod \"\(pod)\" is not available\n".utf8), keepAlive: head.isKeepAlive)
            return
        }
        let options = LogOptions(request)
        let runtime = agent.runtime
        Thread.detachNewThread {
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "text/plain")
            headers.add(name: "Transfer-Encoding", value: "chunked")
            channel.write(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)), promise: nil)
            var writer = LogWriter(channel: channel, options: options)
            try? runtime.logs(found.record.id, follow: options.follow,
                              cancelled: { !channel.isActive || writer.full },
                              caughtUp: { writer.caughtUp() }) { line in writer.add(line) }
            writer.caughtUp()
            writer.flush()
            let done = channel.writeAndFlush(HTTPServerResponsePart.end(nil))
            if !head.isKeepAlive { done.whenComplete { _ in channel.close(promise: nil) } }
        }
    }
}

struct LogOptions {
    var follow = false
    var tailLines: Int?
    /// Lines older than this RFC 3339 timestamp (same format as the log's) are skipped.
    var since: String?
    var timestamps = false
    var limitBytes: Int?

    init(_ r: NodeRequest) {
        follow = r.flag("follow")
        tailLines = r.first("tailLines").flatMap { Int($0) }.map { max(0, $0) }
        timestamps = r.flag("timestamps")
        limitBytes = r.first("limitBytes").flatMap { Int($0) }
        if let s = r.first("sinceSeconds").flatMap({ Double($0) }) {
            since = Timestamps.rfc3339Nano(Date().addingTimeInterval(-s))
        } else if let t = r.first("sinceTime"), let d = Timestamps.parse(t) {
            since = Timestamps.rfc3339Nano(d)
        }
    }
}

/// Formats lines as the kubelet does (partial lines joined), keeps the last tailLines until the
/// existing log has been read, and stops at limitBytes.
struct LogWriter {
    let channel: Channel
    let options: LogOptions
    private var tail: [LogLine] = []
    private var buffering: Bool
    private var pending: [UInt8] = []
    private var sent = 0
    private(set) var full = false

    init(channel: Channel, options: LogOptions) {
        self.channel = channel
        self.options = options
        buffering = options.tailLines != nil
    }

    mutating func add(_ line: LogLine) {
        if let since = options.since, line.timestamp < since { return }
        if buffering {
            tail.append(line)
            if let n = options.tailLines, tail.count > n { tail.removeFirst(tail.count - n) }
            return
        }
        append(line)
        if pending.count >= 32 * 1024 || !buffering && options.follow { flush() }
    }

    mutating func caughtUp() {
        guard buffering else { flush(); return }
        buffering = false
        for line in tail { append(line) }
        tail = []
        flush()
    }

    private mutating func append(_ line: LogLine) {
        guard !full else { return }
        if options.timestamps { pending.append(contentsOf: line.timestamp.utf8); pending.append(0x20) }
        pending.append(contentsOf: line.text.utf8)
        if line.complete { pending.append(0x0a) }
        if let limit = options.limitBytes, sent + pending.count >= limit {
            pending.removeLast(sent + pending.count - limit)
            full = true
        }
    }

    mutating func flush() {
        guard !pending.isEmpty, channel.isActive else { return }
        sent += pending.count
        let part = HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: pending)))
        pending = []
        try? channel.writeAndFlush(part).wait()
    }
}
