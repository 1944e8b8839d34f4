// ServiceAccount admission on pod create (kube-apiserver's ServiceAccount plugin): the pod runs
// as an account that exists, "default" unless it names one, and gets that account's
// credentials mounted unless the pod or the account opts out (API's ServiceAccountAdmission
// holds the pod changes). Mirror pods are left as their node wrote them.
import API
import Store

extension ResourceStorage {
    static let serviceAccountType = ResourceRegistry.lookup(groupVersion: "v1", plural: "serviceaccounts")!

    /// Every namespace has a `default` ServiceAccount (the service account controller's job in Kubernetes).
    func ensureDefaultServiceAccount(_ namespace: String) async {
        _ = try? await create(Self.serviceAccountType, namespace: namespace, body: ["metadata": ["name": .string(ServiceAccountAdmission.defaultName)]])
    }

    /// Defaults and checks a new pod's service account and mounts its token; a missing account is a 403.
    func admitServiceAccount(_ pod: inout JSONValue, namespace: String, podName: String) async throws {
        guard !ServiceAccountAdmission.isMirror(pod) else { return }
        let name = ServiceAccountAdmission.defaultServiceAccount(&pod)
        let key = Self.key(Self.serviceAccountType, namespace: namespace, name: name)
        var kv = try await store.get(key)
        if kv == nil && name == ServiceAccountAdmission.defaultName {
            // (A namespace from before accounts were made with it: make it now, as the controller would.)
            await ensureDefaultServiceAccount(namespace)
            kv = try await store.get(key)
        }
        guard let kv else {
            throw APIError(.forbidden(group: "", resource: "pods", name: podName,
                                      message: "pods \"\(podName)\" is forbidden: error looking up service account \(namespace)/\(name): serviceaccount \"\(name)\" not found"))
        }
        let account = ObjectCodec.decode(kv.value, revision: kv.modRevision)
        if mountsServiceAccountTokens && ServiceAccountAdmission.shouldAutomount(pod: pod, serviceAccount: account) {
            ServiceAccountAdmission.mountToken(&pod, suffix: ObjectCodec.randomSuffix())
        }
        ServiceAccountAdmission.addImagePullSecrets(&pod, from: account)
    }
}
