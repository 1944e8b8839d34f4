// Namespace deletion: a deleted namespace turns Terminating; this removes everything in it
// (pods gracefully, as any delete), waits until it is empty, drops the `kubernetes` finalizer
// and removes the namespace. Runs in the master, and resumes after a restart.
import API
import Foundation
import Synchronization

final class NamespaceController: Sendable {
    let storage: ResourceStorage
    let customResources: CustomResourceCatalog
    private let running = Mutex<Set<String>>([])

    init(storage: ResourceStorage, customResources: CustomResourceCatalog) {
        self.storage = storage
        self.customResources = customResources
    }

    /// Starts finalizing `name` unless that is already under way.
    func finalize(_ name: String) {
        guard running.withLock({ $0.insert(name).inserted }) else { return }
        Task {
            defer { _ = running.withLock { $0.remove(name) } }
            while !Task.isCancelled {
                do {
                    if try await finalizeOnce(name) { return }
                } catch let e as APIError where e.status.code == 404 {
                    return
                } catch {}
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
    }

    /// Resumes namespaces that were terminating when the master stopped.
    func resume() async {
        let nsType = ResourceRegistry.lookup(groupVersion: "v1", plural: "namespaces")!
        guard let list = try? await storage.store.list(prefix: ResourceStorage.prefix(nsType), limit: nil, continueAfter: nil, revision: nil) else { return }
        for kv in list.items {
            guard let ns = try? JSONValue.parse(kv.value), ns["metadata"]?["deletionTimestamp"] != nil,
                  let name = ns["metadata"]?["name"]?.stringValue else { continue }
            finalize(name)
        }
    }

    /// One pass: delete what is left; true once the namespace itself is gone.
    func finalizeOnce(_ name: String) async throws -> Bool {
        var remaining = 0
        for type in customResources.served.all where type.namespaced && ResourceRegistry.isStorageVersion(type) && !type.isResourceMetrics {
            let list = try await storage.store.list(prefix: ResourceStorage.listPrefix(type, namespace: name), limit: nil, continueAfter: nil, revision: nil)
            for kv in list.items {
                remaining += 1
                guard let obj = try? JSONValue.parse(kv.value), let objName = obj["metadata"]?["name"]?.stringValue else { continue }
                if obj["metadata"]?["deletionTimestamp"] != nil { continue }
                _ = try? await storage.delete(type, namespace: name, name: objName, options: .init())
            }
        }
        guard remaining == 0 else { return false }
        let nsType = ResourceRegistry.lookup(groupVersion: "v1", plural: "namespaces")!
        let key = ResourceStorage.key(nsType, namespace: nil, name: name)
        guard let kv = try await storage.store.get(key) else { return true }
        _ = try await storage.store.delete(key, expectedModRevision: kv.modRevision)
        return true
    }
}
