// TokenRequest (serviceaccounts/token, `kubectl create token`): a signed token for the account,
// 10 minutes to 48 hours (default 1 h), optionally bound to a Pod or Secret of its namespace so
// it stops authenticating once that object is gone. Nodes may only ask for tokens bound to pods
// they run (the NodeRestriction admission plugin's rule).
import API
import Foundation
import Auth

extension KubernetesAPI {
    func tokenRequest(_ request: HTTPRequest, namespace: String, name: String, user: UserInfo) async throws -> HTTPReply {
        guard let signer = serviceAccountTokens else {
            throw APIError.badRequest("service account tokens are issued only by a master serving TLS (--tls or a non-loopback address)")
        }
        let sa = try await storage.get(ResourceStorage.serviceAccountType, namespace: namespace, name: name)
        let body = request.body.isEmpty ? JSONValue.object(JSONObject()) : try parseBody(request)
        let seconds = Int(body.value(at: "spec.expirationSeconds")?.intValue ?? 3600)
        guard (600...172_800).contains(seconds) else {
            throw APIError(.invalid(group: "authentication.k8s.io", kind: "TokenRequest", name: name, errors: [
                FieldError(.invalid, field: "spec.expirationSeconds", value: String(seconds), detail: "may not be less than 10 minutes or more than 48 hours")]))
        }
        let ref = body.value(at: "spec.boundObjectRef").flatMap { $0.isNull ? nil : $0 }
        if let node = NodeAuthorizer.nodeName(user) { try await checkNodeBinding(ref, node: node, namespace: namespace, account: name) }
        let bound = try await boundObject(ref, namespace: namespace, account: name)
        let audiences = (body.value(at: "spec.audiences")?.arrayValue ?? []).compactMap(\.stringValue)
        let uid = sa.object.value(at: "metadata.uid")?.stringValue ?? ""
        let now = Date()
        let token = try signer.issue(namespace: namespace, name: name, uid: uid,
                                     audiences: audiences.isEmpty ? [ServiceAccountTokens.issuer] : audiences, seconds: seconds, now: now,
                                     pod: bound.pod, secret: bound.secret)
        let response: JSONValue = [
            "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
            "metadata": ["name": .string(name), "namespace": .string(namespace), "creationTimestamp": .string(KubeTime.format(now))],
            "spec": ["audiences": .array((audiences.isEmpty ? [ServiceAccountTokens.issuer] : audiences).map(JSONValue.string)),
                     "expirationSeconds": .int(Int64(seconds)), "boundObjectRef": ref ?? .null],
            "status": ["token": .string(token), "expirationTimestamp": .string(KubeTime.format(now.addingTimeInterval(Double(seconds))))],
        ]
        return JSONReply.bytes(response.serialized(), code: 201)
    }

    /// The Pod or Secret named by boundObjectRef, which must exist (with that uid, when one is given).
    func boundObject(_ ref: JSONValue?, namespace: String, account: String) async throws
        -> (pod: ServiceAccountTokens.BoundObject?, secret: ServiceAccountTokens.BoundObject?) {
        guard let ref else { return (nil, nil) }
        let apiVersion = ref["apiVersion"]?.stringValue ?? "", kind = ref["kind"]?.stringValue ?? ""
        let refName = ref["name"]?.stringValue ?? "", refUID = ref["uid"]?.stringValue ?? ""
        let group = apiVersion.contains("/") ? String(apiVersion.prefix { $0 != "/" }) : ""
        guard group.isEmpty, kind == "Pod" || kind == "Secret" else {
            let version = apiVersion.contains("/") ? String(apiVersion.drop { $0 != "/" }.dropFirst()) : apiVersion
            throw APIError.badRequest("cannot bind token to object of type \(group)/\(version), Kind=\(kind)")
        }
        let type = ResourceRegistry.lookup(groupVersion: "v1", plural: kind == "Pod" ? "pods" : "secrets")!
        let object = try await storage.get(type, namespace: namespace, name: refName).object
        if kind == "Pod", object.value(at: "spec.serviceAccountName")?.stringValue != account {
            throw APIError.badRequest("cannot bind token for serviceaccount \"\(account)\" to pod running with different serviceaccount name.")
        }
        let uid = object.value(at: "metadata.uid")?.stringValue ?? ""
        if !refUID.isEmpty && refUID != uid {
            throw APIError(Status(code: 409, reason: "Conflict",
                                  message: "Operation cannot be fulfilled on \(kind) \"\(refName)\": the UID in the bound object reference (\(refUID)) does not match the UID in record. The object might have been deleted and then recreated"))
        }
        let bound = ServiceAccountTokens.BoundObject(name: refName, uid: uid)
        return kind == "Pod" ? (bound, nil) : (nil, bound)
    }

    /// A node's TokenRequest must be bound to a pod of that uid scheduled on it.
    func checkNodeBinding(_ ref: JSONValue?, node: String, namespace: String, account: String) async throws {
        func forbidden(_ why: String) -> APIError {
            APIError(.forbidden(group: "", resource: "serviceaccounts", name: account, message: "serviceaccounts \"\(account)\" is forbidden: \(why)"))
        }
        guard let ref, ref["apiVersion"]?.stringValue == "v1", ref["kind"]?.stringValue == "Pod",
              let podName = ref["name"]?.stringValue, !podName.isEmpty else { throw forbidden("node requested token not bound to a pod") }
        guard let refUID = ref["uid"]?.stringValue, !refUID.isEmpty else { throw forbidden("node requested token with a pod binding without a uid") }
        let pod = try await storage.get(ResourceRegistry.lookup(groupVersion: "v1", plural: "pods")!, namespace: namespace, name: podName).object
        if pod.value(at: "metadata.uid")?.stringValue != refUID {
            throw forbidden("the UID in the bound object reference (\(refUID)) does not match the UID in record. The object might have been deleted and then recreated")
        }
        if pod.value(at: "spec.nodeName")?.stringValue != node { throw forbidden("node requested token bound to a pod scheduled on a different node") }
    }
}
