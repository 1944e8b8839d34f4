// Requests for a version that is a view of another (autoscaling/v1 HorizontalPodAutoscalers
// over the stored autoscaling/v2 ones): the body is converted into the storage version, the
// request is served as one for that version, and what comes back — an object, a list, every
// event of a watch — is converted into the version asked for. Tables and Status answers are
// the same in every version and pass through.
import API
import NIOHTTP1
import Auth

extension KubernetesAPI {
    func handleConverted(_ request: HTTPRequest, _ rr: ResourceRequest, storageType: ResourceType, user: UserInfo) async throws -> HTTPReply {
        var stored = rr
        stored.type = storageType
        var forwarded = request
        if (request.method == .POST || request.method == .PUT) && !request.body.isEmpty {
            forwarded.body = VersionConversion.toStorage(try parseBody(request), from: rr.type).serialized()
            forwarded.headers.replaceOrAdd(name: "content-type", value: "application/json")
        }
        let reply: HTTPReply
        if request.method == .PATCH, stored.name != nil, rr.subresource == nil || rr.subresource == "status" {
            let dryRun = request.query["dryRun"] == "All"
            let updated = try await patch(request, stored, name: stored.name!, target: rr.subresource == nil ? .main : .status,
                                          dryRun: dryRun, view: rr.type)
            reply = JSONReply.bytes(updated.object.serialized())
        } else {
            reply = try await handleResource(forwarded, stored, user: user)
        }
        return Self.converted(reply, to: rr.type)
    }

    static func converted(_ reply: HTTPReply, to type: ResourceType) -> HTTPReply {
        switch reply {
        case .full(let status, let contentType, let body):
            guard contentType.hasPrefix("application/json"), let object = try? JSONValue.parse(body) else { return reply }
            return .full(status: status, contentType: contentType, body: VersionConversion.fromStorage(object, to: type).serialized())
        case .stream(let status, let contentType, let chunks):
            // Each chunk is one watch event line.
            let (out, continuation) = AsyncStream<[UInt8]>.makeStream(bufferingPolicy: .bufferingOldest(4096))
            let task = Task {
                for await chunk in chunks {
                    if case .terminated = continuation.yield(convertedEvent(chunk, to: type)) { break }
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
            return .stream(status: status, contentType: contentType, chunks: out)
        }
    }

    static func convertedEvent(_ line: [UInt8], to type: ResourceType) -> [UInt8] {
        guard var event = try? JSONValue.parse(line), let object = event["object"] else { return line }
        event["object"] = VersionConversion.fromStorage(object, to: type)
        return event.serialized() + [UInt8(ascii: "\n")]
    }
}
