// The audit log: one JSON line per mutating request (who, what, when, result) in Kubernetes'
// audit.k8s.io/v1 Event shape at level Metadata (no bodies: Secrets never reach the file), so
// the usual tools read it. `skiff master --audit-log-path FILE`; the file is created 0600.
import API
import Foundation

public final class AuditLog: @unchecked Sendable {
    private let handle: FileHandle
    private let lock = NSLock()
    let path: String

    public init(path: String) throws {
        self.path = path
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw APIError.internalError("cannot open the audit log \(path): \(String(cString: strerror(errno)))") }
        handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
    }

    /// Kubernetes' lower-case audit verbs for the request verbs the API records.
    static let verbs = ["POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete", "DELETECOLLECTION": "deletecollection"]

    /// Records one request if it changed (or tried to change) something.
    func record(_ request: HTTPRequest, _ rr: ResourceRequest, verb: String, user: (name: String, groups: [String]), code: Int, received: Date) {
        guard let auditVerb = Self.verbs[verb] else { return }
        var objectRef: JSONValue = ["resource": .string(rr.type.plural), "apiGroup": .string(rr.type.group), "apiVersion": .string(rr.type.version)]
        if let ns = rr.namespace { objectRef["namespace"] = .string(ns) }
        if let name = rr.name { objectRef["name"] = .string(name) }
        if let sub = rr.subresource { objectRef["subresource"] = .string(sub) }
        let uri = request.query.isEmpty ? request.path
            : request.path + "?" + request.query.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "&")
        let event: JSONValue = [
            "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
            "auditID": .string(UUID().uuidString.lowercased()), "stage": "ResponseComplete",
            "requestURI": .string(uri), "verb": .string(auditVerb),
            "user": ["username": .string(user.name), "groups": .array(user.groups.map(JSONValue.string))],
            "sourceIPs": [.string(request.remoteIP)],
            "userAgent": .string(request.headers.first(name: "User-Agent") ?? ""),
            "objectRef": objectRef,
            "responseStatus": ["metadata": .object(JSONObject()), "code": .int(Int64(code))],
            "requestReceivedTimestamp": .string(KubeTime.format(received, fractionDigits: 6)),
            "stageTimestamp": .string(KubeTime.format(Date(), fractionDigits: 6)),
        ]
        let line = event.serialized() + [0x0a]
        lock.lock()
        handle.write(Data(line))
        lock.unlock()
    }
}
