// Which custom resources are served: rebuilt from the stored CustomResourceDefinitions whenever
// one changes (this server's own writes at once, every other master's through a watch), so
// routing, discovery and the OpenAPI documents follow the definitions. A definition being
// deleted has its objects deleted first (CustomResourceCleanup), as apiextensions-apiserver's
// finalizer controller does.
import API
import Foundation
import Store
import Synchronization

final class CustomResourceCatalog: Sendable {
    static let definitionType = ResourceRegistry.lookup(groupVersion: "apiextensions.k8s.io/v1", plural: "customresourcedefinitions")!

    let storage: ResourceStorage
    /// The served resources with the store revision they were read at (a late reload never replaces a newer one).
    private let current = Mutex((served: ServedResources.builtIn, revision: Int64(0)))
    private let cleaning = Mutex<Set<String>>([])

    init(storage: ResourceStorage) { self.storage = storage }

    var served: ServedResources { current.withLock { $0.served } }

    /// Reads every definition again; starts the cleanup of those being deleted.
    func reload() async {
        guard let page = try? await storage.store.list(prefix: ResourceStorage.prefix(Self.definitionType), limit: nil,
                                                        continueAfter: nil, revision: nil) else { return }
        var custom: [ResourceType] = []
        for kv in page.items {
            guard let crd = try? JSONValue.parse(kv.value) else { continue }
            custom += CustomResourceTypes.served(by: crd)
            if crd["metadata"]?["deletionTimestamp"] != nil, let name = crd["metadata"]?["name"]?.stringValue {
                cleanUp(name, types: CustomResourceTypes.served(by: crd))
            }
        }
        let served = ServedResources(custom: custom)
        current.withLock { if page.revision >= $0.revision { $0 = (served, page.revision) } }
    }

    /// Follows the definitions for as long as the server runs (another master's writes included).
    func follow() {
        Task {
            while !Task.isCancelled {
                await reload()
                let from = current.withLock { $0.revision }
                do {
                    let events = try await storage.store.watch(prefix: ResourceStorage.prefix(Self.definitionType), fromRevision: from)
                    for try await _ in events { await reload() }
                } catch {}
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// Deletes every object of a definition being deleted, then lets the definition go.
    func cleanUp(_ name: String, types: [ResourceType]) {
        guard let type = types.first.map(ResourceRegistry.storageType(of:)),
              cleaning.withLock({ $0.insert(name).inserted }) else { return }
        Task {
            defer { _ = cleaning.withLock { $0.remove(name) } }
            while !Task.isCancelled {
                do {
                    try await deleteObjects(of: type)
                    _ = try await storage.guaranteedUpdate(Self.definitionType, namespace: nil, name: name) { crd in
                        var out = crd
                        let finalizers = (crd["metadata"]?["finalizers"]?.arrayValue ?? [])
                            .filter { $0.stringValue != CustomResourceDefinitionRules.cleanupFinalizer }
                        out["metadata"]?["finalizers"] = .array(finalizers)
                        return out
                    }
                    await reload()
                    return
                } catch let e as APIError where e.status.code == 404 {
                    return
                } catch {
                    try? await Task.sleep(for: .milliseconds(500))
                }
            }
        }
    }

    /// One pass: deletes what is left (finalizers of the objects are honoured: a pass fails until they are gone).
    func deleteObjects(of type: ResourceType) async throws {
        let page = try await storage.store.list(prefix: ResourceStorage.prefix(type), limit: nil, continueAfter: nil, revision: nil)
        for kv in page.items {
            guard let obj = try? JSONValue.parse(kv.value), let name = obj["metadata"]?["name"]?.stringValue,
                  obj["metadata"]?["deletionTimestamp"] == nil else { continue }
            _ = try? await storage.delete(type, namespace: obj["metadata"]?["namespace"]?.stringValue, name: name, options: .init())
        }
        let left = try await storage.store.list(prefix: ResourceStorage.prefix(type), limit: 1, continueAfter: nil, revision: nil)
        if !left.items.isEmpty { throw APIError.internalError("objects of \(type.plural).\(type.group) remain") }
    }
}
