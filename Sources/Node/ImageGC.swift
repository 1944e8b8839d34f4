// Image garbage collection by disk thresholds (the kubelet's imageGCHighThresholdPercent /
// LowThresholdPercent): when the image filesystem is fuller than the high mark, images no
// container uses are removed, oldest first, until usage drops under the low mark; then their
// blobs and unpacked layers go (layers of existing containers are kept).
import Foundation
import Images
import Runtime
#if canImport(Glibc)
import Glibc
#endif

struct ImageGC {
    let runtime: ContainerRuntime
    let highPercent: Int
    let lowPercent: Int
    /// Image references the node's pods ask for: kept even before a container uses them (a pod
    /// may wait for its network or its turn).
    var wanted: () -> [String] = { [] }
    let log: (String) -> Void

    /// Percent of the image filesystem in use.
    static func usagePercent(_ path: String) -> Int {
        var s = statvfs()
        guard statvfs(path, &s) == 0, s.f_blocks > 0 else { return 0 }
        let used = Double(s.f_blocks - s.f_bavail)
        return Int((used / Double(s.f_blocks) * 100).rounded(.up))
    }

    /// One pass; returns the references of the images removed.
    @discardableResult
    func run() -> [String] {
        guard let store = try? runtime.imageStore else { return [] }
        guard Self.usagePercent(store.root) >= highPercent else { return [] }
        var inUse = Set(runtime.list().compactMap { $0.record.imageDigest })
        for ref in wanted() { if let image = try? store.resolve(ref) { inUse.insert(image.manifestDigest.description) } }
        let images = ((try? store.list()) ?? []).filter { !inUse.contains($0.manifestDigest.description) }
            .sorted { ($0.created ?? "") < ($1.created ?? "") }
        var removed: [String] = []
        for image in images {
            if Self.usagePercent(store.root) < lowPercent && !removed.isEmpty { break }
            do {
                try store.remove(image.manifestDigest.description)
                removed.append(image.references.first ?? image.manifestDigest.description)
            } catch {
                log("image gc: removing \(image.references.first ?? image.manifestDigest.description): \(error)")
            }
            _ = try? runtime.pruneImages()
        }
        if !removed.isEmpty { log("image gc: removed \(removed.joined(separator: ", "))") }
        return removed
    }
}
