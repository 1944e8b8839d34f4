// The container root: an overlay of read-only image layers with a per-container upper dir.
#if canImport(Glibc)
import Glibc
#endif

enum Rootfs {
    /// Mounts `lowers` (bottom layer first, as images list them) under `upper`/`work` at `target`.
    static func mountOverlay(lowers: [String], upper: String, work: String, target: String) throws {
        guard !lowers.isEmpty else { throw RuntimeError(.mount, "an overlay root needs at least one image layer") }
        for dir in lowers + [upper, work, target] where dir.contains(":") || dir.contains(",") {
            throw RuntimeError(.mount, "overlay path \(dir) contains ':' or ',' which overlayfs cannot take")
        }
        // overlayfs lists the topmost lower dir first.
        let options = "lowerdir=\(lowers.reversed().joined(separator: ":")),upperdir=\(upper),workdir=\(work)"
        guard options.utf8.count < 4000 else {
            throw RuntimeError(.mount, "overlay options for \(lowers.count) layers exceed the kernel's page-size limit")
        }
        guard mount("overlay", target, "overlay", 0, options) == 0 else {
            throw RuntimeError.posix(.mount, "mounting the overlay root at", path: target)
        }
    }

    /// Lazily unmounts `target`; a path that is not mounted (or gone) is fine.
    static func unmount(_ target: String) throws {
        if umount2(target, Int32(MNT_DETACH)) != 0 && errno != EINVAL && errno != ENOENT {
            throw RuntimeError.posix(.mount, "unmounting", path: target)
        }
    }
}
