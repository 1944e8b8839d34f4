// The reviews, answered on create and never stored, in kube-apiserver's shapes: TokenReview (who
// a bearer token is), SubjectAccessReview and LocalSubjectAccessReview (may this user do that),
// SelfSubjectAccessReview (may I: `kubectl auth can-i`) and SelfSubjectReview (who am I:
// `kubectl auth whoami`). Node agents check their callers with the first two, as kubelets do
// with --authentication-token-webhook and --authorization-mode=Webhook.
import API
import Foundation
import Auth

extension KubernetesAPI {
    func handleReview(_ request: HTTPRequest, _ rr: ResourceRequest, user: UserInfo) async throws -> HTTPReply {
        guard request.method == .POST, rr.name == nil, rr.subresource == nil else {
            throw APIError.methodNotAllowed("the server does not allow this method on the requested resource")
        }
        let body = try parseBody(request)
        let answer: JSONValue
        switch rr.type.kind {
        case TokenReview.kind: answer = try await tokenReview(TokenReview(json: body)).json
        case SelfSubjectReview.kind: answer = selfSubjectReview(user: user).json
        case SubjectAccessReview.kind: answer = try await subjectAccessReview(SubjectAccessReview(json: body)).json
        case LocalSubjectAccessReview.kind:
            answer = try await localSubjectAccessReview(LocalSubjectAccessReview(json: body), namespace: rr.namespace ?? "").json
        case SelfSubjectAccessReview.kind: answer = try await selfSubjectAccessReview(SelfSubjectAccessReview(json: body), user: user).json
        default: throw APIError(Status(code: 404, reason: "NotFound", message: "the server could not find the requested resource"))
        }
        return JSONReply.bytes(answer.serialized(), code: 201)
    }

    /// The answer keeps the question (kube-apiserver echoes the spec), with apiVersion and kind.
    private func answering<T: KubernetesObject>(_ review: T) -> T {
        var out = review
        out.json["apiVersion"] = .string(T.apiVersion)
        out.json["kind"] = .string(T.kind)
        return out
    }

    func tokenReview(_ question: TokenReview) async throws -> TokenReview {
        guard let token = question.spec.token, !token.isEmpty else {
            throw APIError.badRequest("token is required for TokenReview in authentication")
        }
        var review = answering(question)
        let audiences = question.spec.audiences ?? []
        guard let access else {
            review.status.authenticated = false
            review.status.error = "this server serves plain HTTP and authenticates no tokens"
            return review
        }
        // A token is good for any of the audiences asked (none asked: the API server's own).
        var found: UserInfo?
        for audience in audiences.isEmpty ? [ServiceAccountTokens.issuer] : audiences where found == nil {
            found = await access.user(forToken: token, audience: audience)
        }
        guard let user = found else {
            review.status.authenticated = false
            review.status.error = "invalid bearer token"
            return review
        }
        review.status.authenticated = true
        review.status.user = Self.reviewed(user)
        review.status.audiences = audiences.isEmpty ? [ServiceAccountTokens.issuer] : audiences
        return review
    }

    static func reviewed(_ user: UserInfo) -> ReviewedUser {
        var reviewed = ReviewedUser(json: .object(JSONObject()))
        reviewed.username = user.name
        reviewed.groups = user.groups
        return reviewed
    }

    func selfSubjectReview(user: UserInfo) -> SelfSubjectReview {
        var review = SelfSubjectReview.new()
        review.status.userInfo = Self.reviewed(user)
        return review
    }

    func subjectAccessReview(_ question: SubjectAccessReview) async throws -> SubjectAccessReview {
        let spec = question.spec
        var errors: [FieldError] = []
        if (spec.user ?? "").isEmpty && (spec.groups ?? []).isEmpty {
            errors.append(FieldError(.invalid, field: "spec.user", value: "", detail: "at least one of user or group must be specified"))
        }
        let attributes = try Self.attributes(spec.json, user: UserInfo(name: spec.user ?? "", groups: spec.groups ?? []),
                                             kind: SubjectAccessReview.kind, errors: errors)
        var review = answering(question)
        review.status = try await decision(attributes)
        return review
    }

    func localSubjectAccessReview(_ question: LocalSubjectAccessReview, namespace: String) async throws -> LocalSubjectAccessReview {
        var spec = question.spec
        var errors: [FieldError] = []
        if (spec.user ?? "").isEmpty && (spec.groups ?? []).isEmpty {
            errors.append(FieldError(.invalid, field: "spec.user", value: "", detail: "at least one of user or group must be specified"))
        }
        if Self.has(spec.json, "nonResourceAttributes") {
            errors.append(FieldError(.invalid, field: "spec.nonResourceAttributes", value: "", detail: "disallowed on this kind of request"))
        }
        let asked = spec.resourceAttributes.namespace ?? ""
        if asked.isEmpty {
            spec.resourceAttributes.namespace = namespace
        } else if asked != namespace {
            throw APIError.badRequest("spec.resourceAttributes.namespace must match namespace: \(namespace)")
        }
        let attributes = try Self.attributes(spec.json, user: UserInfo(name: spec.user ?? "", groups: spec.groups ?? []),
                                             kind: LocalSubjectAccessReview.kind, errors: errors)
        var review = answering(question)
        review.spec = spec
        review.status = try await decision(attributes)
        return review
    }

    func selfSubjectAccessReview(_ question: SelfSubjectAccessReview, user: UserInfo) async throws -> SelfSubjectAccessReview {
        let attributes = try Self.attributes(question.spec.json, user: user, kind: SelfSubjectAccessReview.kind, errors: [])
        var review = answering(question)
        review.status = try await decision(attributes)
        return review
    }

    /// Whether a spec sets `field` (the views read an absent message as an empty one).
    static func has(_ spec: JSONValue, _ field: String) -> Bool { spec[field]?.objectValue != nil }

    /// The request a review's spec asks about: exactly one of resourceAttributes and nonResourceAttributes (422 otherwise).
    static func attributes(_ spec: JSONValue, user: UserInfo, kind: String, errors: [FieldError]) throws -> RequestAttributes {
        var errors = errors
        let hasResource = has(spec, "resourceAttributes"), hasNonResource = has(spec, "nonResourceAttributes")
        if hasResource == hasNonResource {
            errors.append(FieldError(.invalid, field: "spec.resourceAttributes", value: "",
                                     detail: "exactly one of nonResourceAttributes or resourceAttributes must be specified"))
        }
        if !errors.isEmpty { throw APIError(.invalid(group: "authorization.k8s.io", kind: kind, name: "", errors: errors)) }
        let view = SubjectAccessReviewSpec(json: spec)
        if hasNonResource {
            var a = RequestAttributes(user: user, verb: view.nonResourceAttributes.verb ?? "", isResourceRequest: false)
            a.path = view.nonResourceAttributes.path ?? ""
            return a
        }
        let resource = view.resourceAttributes
        var a = RequestAttributes(user: user, verb: resource.verb ?? "", isResourceRequest: true)
        a.apiGroup = resource.group ?? ""
        a.resource = resource.resource ?? ""
        a.subresource = resource.subresource ?? ""
        a.namespace = resource.namespace ?? ""
        a.name = resource.name ?? ""
        return a
    }

    /// The authorizers' answer (a plain-HTTP master lets every caller do anything).
    func decision(_ a: RequestAttributes) async throws -> SubjectAccessReviewStatus {
        var status = SubjectAccessReviewStatus(json: .object(JSONObject()))
        guard let access else { status.allowed = true; return status }
        let (allowed, reason) = try await access.decide(a)
        status.allowed = allowed
        if !reason.isEmpty { status.reason = reason }
        return status
    }
}
