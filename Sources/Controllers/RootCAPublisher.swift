// The root CA publisher (kube-controller-manager's root-ca-cert-publisher): every namespace has
// a ConfigMap kube-root-ca.crt whose ca.crt is the cluster CA, so pods verify the API server
// (the kube-api-access volume projects it). Made when a namespace appears, put back when it is
// edited or deleted; left alone in a namespace being deleted.
import API
import Client
import Foundation

final class RootCAPublisher: Controller, InitialKeys, @unchecked Sendable {
    let name = "root-ca-cert-publisher"
    let informers: SharedInformers
    let queue = WorkQueue()
    let caPEM: String
    static let configMapName = ServiceAccountAdmission.rootCAConfigMap
    static let descriptionAnnotation = "kubernetes.io/description"
    static let description = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."

    init(informers: SharedInformers, caPEM: String) {
        self.informers = informers
        // As a PEM file has it (ending in a newline), whichever way the CA was handed over.
        self.caPEM = caPEM.hasSuffix("\n") ? caPEM : caPEM + "\n"
        informers.namespaces.onEvent { [self] event in
            switch event {
            case .added(let ns), .updated(_, let ns): queue.add(objectKey(ns))
            case .deleted: break
            }
        }
        informers.rootCAConfigMaps.onEvent { [self] event in
            switch event {
            case .added: break
            case .updated(_, let cm), .deleted(let cm): queue.add(cm["metadata"]?["namespace"]?.stringValue ?? "")
            }
        }
    }

    func initialKeys() -> [String] { informers.namespaces.items.map(objectKey) }

    enum Change: Equatable {
        case none
        case create(JSONValue)
        case update(JSONValue)
    }

    /// What brings the namespace's ConfigMap (nil: there is none) to the CA and the description.
    static func change(existing: JSONValue?, caPEM: String) -> Change {
        let data: JSONValue = ["ca.crt": .string(caPEM)]
        guard var cm = existing else {
            return .create(["apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": ["name": .string(configMapName), "annotations": [descriptionAnnotation: .string(description)]],
                            "data": data])
        }
        let annotation = cm["metadata"]?["annotations"]?[descriptionAnnotation]?.stringValue ?? ""
        if cm["data"] == data && !annotation.isEmpty { return .none }
        cm["data"] = data
        var annotations = cm["metadata"]?["annotations"]?.objectValue ?? JSONObject()
        annotations[descriptionAnnotation] = .string(description)
        cm["metadata"]?["annotations"] = .object(annotations)
        return .update(cm)
    }

    func sync(_ key: String, client: APIClient) throws {
        guard let ns = informers.namespaces.get(key), ns["metadata"]?["deletionTimestamp"] == nil else { return }
        let path = "/api/v1/namespaces/\(key)/configmaps"
        switch Self.change(existing: informers.rootCAConfigMaps.get(key + "/" + Self.configMapName), caPEM: caPEM) {
        case .none:
            return
        case .create(let cm):
            let r = try client.request("POST", path, body: cm.serialized())
            // Already there (the informer lags: its event brings the key back), or the namespace
            // is gone or terminating: nothing to retry.
            if (200..<300).contains(r.code) || [403, 404, 409].contains(r.code) { return }
            throw ClientError("POST \(path): \(r.errorMessage)")
        case .update(let cm):
            try client.send("PUT", path + "/" + Self.configMapName, cm, missingOK: true)
        }
    }
}
