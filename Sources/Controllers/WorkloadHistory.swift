// A workload's template history as ControllerRevisions (DaemonSets and StatefulSets): one
// revision per distinct template, named `<owner>-<hash>`, holding the strategic merge patch that
// restores it (what `kubectl rollout undo` applies). Returning to an old template renumbers its
// revision to the newest instead of adding one; revisions beyond revisionHistoryLimit that no
// pod uses are deleted, oldest first.
import API
import Client
import Foundation

struct WorkloadHistory: Sendable {
    let revisions: Lister<ControllerRevision>

    func owned<T: KubernetesObject>(by owner: T) -> [ControllerRevision] {
        revisions.list(namespace: owner.namespace).filter { $0.controllerRef?.uid == owner.uid }
            .sorted { ($0.revision ?? 0, $0.name) < ($1.revision ?? 0, $1.name) }
    }

    /// The hash of `template`, after making sure the newest revision holds it.
    func current<T: KubernetesObject>(for owner: T, template: JSONValue, client: ObjectClient) throws -> String {
        let hash = DeploymentController.templateHash(template)
        let name = owner.name + "-" + hash
        let history = owned(by: owner)
        let newest = history.last?.revision ?? 0
        if var existing = history.first(where: { $0.name == name }) {
            if existing.revision != newest || history.filter({ $0.revision == newest }).count > 1 {
                existing.revision = newest + 1   // back to an older template (rollout undo)
                _ = try client.update(existing)
            }
            return hash
        }
        var revision = ControllerRevision.new(namespace: owner.namespace, name: name)
        var labels = PodTemplateSpec(json: template).metadata.labels ?? [:]
        labels[AppsRules.revisionHashLabel] = hash
        revision.metadata.labels = labels
        revision.metadata.annotations = owner.metadata.annotations
        revision.metadata.ownerReferences = [owner.ownerReference()]
        var replace = template
        replace.put("$patch", "replace")
        revision.data = ["spec": ["template": replace]]
        revision.revision = newest + 1
        do {
            _ = try client.create(revision)
        } catch let e as APIStatusError where e.code == 409 {
            // Made by an earlier sync the informer has not shown yet; another owner's is a real clash.
            guard let found = try client.get(ControllerRevision.self, namespace: owner.namespace, name: name), found.controllerRef?.uid == owner.uid else {
                throw e
            }
        }
        return hash
    }

    /// Deletes the oldest revisions beyond `keep` that no live pod is on (the newest always stays).
    func truncate<T: KubernetesObject>(for owner: T, keep: Int, live: Set<String>, client: ObjectClient) throws {
        let history = owned(by: owner)
        let unused = history.dropLast().filter { !live.contains($0.metadata.labels?[AppsRules.revisionHashLabel] ?? "") }
        for revision in unused.dropLast(max(0, keep)) {
            try client.delete(revision)
        }
    }
}
