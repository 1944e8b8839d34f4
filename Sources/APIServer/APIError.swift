// Errors a request handler throws: each is a Kubernetes Status with its HTTP code.
import API
import Foundation
import Store

struct APIError: Error {
    var status: Status

    init(_ status: Status) { self.status = status }

    static func badRequest(_ message: String) -> APIError { APIError(.badRequest(message)) }
    static func notFound(_ type: ResourceType, _ name: String) -> APIError {
        APIError(.notFound(group: type.group, resource: type.plural, name: name))
    }
    static func methodNotAllowed(_ message: String) -> APIError {
        APIError(Status(code: 405, reason: "MethodNotAllowed", message: message))
    }
    static func invalid(_ type: ResourceType, _ name: String, _ errors: [FieldError]) -> APIError {
        APIError(.invalid(group: type.group, kind: type.kind, name: name, errors: errors))
    }
    static func forbidden(_ message: String) -> APIError { APIError(Status(code: 403, reason: "Forbidden", message: message)) }
    static func internalError(_ message: String) -> APIError {
        APIError(Status(code: 500, reason: "InternalError", message: "Internal error occurred: \(message)"))
    }

    /// Maps a store error for an object of `type` named `name`.
    static func from(_ error: Error, type: ResourceType, name: String) -> APIError {
        if let e = error as? APIError { return e }
        if let e = error as? StoreError {
            switch e.code {
            case .notFound: return .notFound(type, name)
            case .alreadyExists: return APIError(.alreadyExists(group: type.group, resource: type.plural, name: name))
            case .conflict: return APIError(.conflict(group: type.group, resource: type.plural, name: name))
            case .compacted(let r):
                return APIError(.gone("The resourceVersion for the provided list is too old (compacted at \(r))."))
            default: return .internalError(e.message)
            }
        }
        return .internalError(String(describing: error))
    }
}

enum JSONReply {
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]   // as Go writes JSON
        return e
    }()

    static func status(_ s: Status) -> HTTPReply {
        .full(status: .init(statusCode: s.code), contentType: "application/json", body: statusBody(s))
    }

    static func statusBody(_ s: Status) -> [UInt8] {
        (try? encoder.encode(s)).map { Array($0) } ?? Array(#"{"kind":"Status","apiVersion":"v1","status":"Failure","code":500}"#.utf8)
    }

    static func encodable<T: Encodable>(_ value: T, code: Int = 200) -> HTTPReply {
        do {
            return .full(status: .init(statusCode: code), contentType: "application/json", body: Array(try encoder.encode(value)))
        } catch {
            return status(APIError.internalError("encoding response: \(error)").status)
        }
    }

    static func bytes(_ body: [UInt8], code: Int = 200) -> HTTPReply {
        .full(status: .init(statusCode: code), contentType: "application/json", body: body)
    }
}
