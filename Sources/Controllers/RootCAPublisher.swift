// The root CA publisher (kube-controller-manager's root-ca-cert-publisher): every namespace has
// a ConfigMap kube-root-ca.crt whose ca.crt is the cluster CA, so pods verify the API server
// (the kube-api-access volume projects it). Made when a namespace appears, put back when it is
// edited or deleted; left alone in a namespace being deleted.
import API
import Client
import Foundation

final class RootCAPublisher: Controller, InitialKeys, @unchecked Sendable {
    let name = "root-ca-cert-publisher"
    let queue = WorkQueue()
    let namespaces: Lister<Namespace>
    /// Only the kube-root-ca.crt ConfigMaps (the informer has a field selector).
    let configMaps: Lister<ConfigMap>
    let caPEM: String
    static let configMapName = ServiceAccountAdmission.rootCAConfigMap
    static let descriptionAnnotation = "kubernetes.io/description"
    static let description = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."

    init(namespaces: Lister<Namespace>, configMaps: Lister<ConfigMap>, caPEM: String) {
        self.namespaces = namespaces
        self.configMaps = configMaps
        // As a PEM file has it (ending in a newline), whichever way the CA was handed over.
        self.caPEM = caPEM.hasSuffix("\n") ? caPEM : caPEM + "\n"
    }

    func watch(namespaces: Informer, configMaps: Informer) {
        namespaces.onChange(Namespace.self) { [self] _, new in
            if let new { queue.add(new.key) }
        }
        // Edited or deleted: put back (a new one is ours, or the edit that follows brings it back).
        configMaps.onChange(ConfigMap.self) { [self] old, new in
            if let old { queue.add((new ?? old).namespace) }
        }
    }

    func initialKeys() -> [String] { namespaces.list().map(\.key) }

    enum Change: Equatable {
        case none
        case create(ConfigMap)
        case update(ConfigMap)
    }

    /// What brings the namespace's ConfigMap (nil: there is none) to the CA and the description.
    static func change(existing: ConfigMap?, caPEM: String, namespace: String = "") -> Change {
        let data = ["ca.crt": caPEM]
        guard var cm = existing else {
            var made = ConfigMap.new(namespace: namespace.isEmpty ? nil : namespace, name: configMapName)
            made.metadata.annotations = [descriptionAnnotation: description]
            made.data = data
            return .create(made)
        }
        if cm.data == data && !(cm.metadata.annotations?[descriptionAnnotation] ?? "").isEmpty { return .none }
        cm.data = data
        cm.metadata.annotations = (cm.metadata.annotations ?? [:]).merging([descriptionAnnotation: description]) { $1 }
        return .update(cm)
    }

    func sync(_ key: String, client: APIClient) throws { try sync(key, client: client as ObjectClient) }

    func sync(_ key: String, client: ObjectClient) throws {
        guard let ns = namespaces.get(key), !ns.isBeingDeleted else { return }
        switch Self.change(existing: configMaps.get(key + "/" + Self.configMapName), caPEM: caPEM, namespace: key) {
        case .none:
            return
        case .create(let cm):
            do { _ = try client.create(cm) }
            // Already there (the informer lags: its event brings the key back), or the namespace
            // is gone or terminating: nothing to retry.
            catch let e as APIStatusError where [403, 404, 409].contains(e.code) {}
        case .update(let cm):
            do { _ = try client.update(cm) } catch let e as APIStatusError where e.code == 404 {}
        }
    }
}
