// fieldValidation=Strict on custom resources (kubectl --validate=strict): a body with fields
// the version's schema does not declare is refused with upstream's strict decoding error,
// rather than pruned silently.
import API

extension KubernetesAPI {
    func refuseUnknownFields(_ request: HTTPRequest, _ type: ResourceType, _ body: JSONValue) throws {
        guard request.query["fieldValidation"] == "Strict", let schema = type.custom?.schema else { return }
        let unknown = SchemaPruning.unknownFields(body, schema)
        guard !unknown.isEmpty else { return }
        let fields = unknown.map { "unknown field \"\($0)\"" }.joined(separator: ", ")
        throw APIError.badRequest("\(type.kind) in version \"\(type.version)\" cannot be handled as a \(type.kind): strict decoding error: \(fields)")
    }
}
