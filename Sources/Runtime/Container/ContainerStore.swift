// Container state on disk: <root>/containers/<id>/ holds everything of one container, so a new
// `skiff` process (or a restarted agent) finds every container again.
import FoundationEssentials
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What `skiff` records about a container when it creates it (config.json in its state dir).
public struct ContainerRecord: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    /// The image reference as resolved, or "dir:<path>" for a --rootfs container.
    public var image: String
    public var imageDigest: String?
    public var command: [String]
    public var createdAt: String
    /// The root the container sees: the overlay mount point, or the --rootfs directory.
    public var rootfs: String
    public var overlay: Bool
    /// The image layer directories under the overlay: image GC must keep them while this exists.
    public var layers: [String]?
    /// Cgroup path relative to each hierarchy root, e.g. "skiff/<id>".
    public var cgroupPath: String
    public var autoRemove: Bool
}

/// The container's life as its files tell it.
public enum ContainerRunState: Sendable, Equatable {
    case created
    case running(pid: Int32)
    case exited(ExitRecord)

    public var summary: String {
        switch self {
        case .created: return "Created"
        case .running: return "Running"
        case .exited(let e): return e.oomKilled ? "Exited (\(e.exitCode), OOMKilled)" : "Exited (\(e.exitCode))"
        }
    }
}

/// The directory layout of one container.
public struct ContainerPaths: Sendable {
    public let dir: String
    public init(root: String, id: String) { dir = root + "/containers/" + id }
    public var record: String { dir + "/config.json" }
    public var spawnFile: String { dir + "/spawn" }
    public var pidFile: String { dir + "/init.pid" }
    public var exitFile: String { dir + "/exit.json" }
    public var log: String { dir + "/container.log" }
    /// The monitor's attach socket (containers with stdin).
    public var attachSocket: String { dir + "/attach" }
    public var rootfs: String { dir + "/rootfs" }
    public var upper: String { dir + "/upper" }
    public var work: String { dir + "/work" }
}

/// Records and pid files of containers never change once complete: a long-lived reader (the
/// node agent lists every container each sync pass) keeps them instead of re-decoding them.
final class ContainerStoreCache: Sendable {
    private struct Entries {
        var records: [String: ContainerRecord] = [:]
        var pids: [String: PidRecord] = [:]
        var exits: [String: ExitRecord] = [:]
    }
    private let entries = Mutex(Entries())
    private let listing = Mutex(DirectoryListing())

    /// The containers directory's entries as last read, at which mtime, and whether that read
    /// may be reused: a pass over thousands of containers then costs one stat, not a directory
    /// read, while nothing was added or removed.
    struct DirectoryListing {
        var ids: [String] = []
        var mtime = timespec()
        var valid = false
    }

    /// The container ids in `dir`, read again only when its mtime moved. A change within the
    /// same timestamp tick as the last read could hide behind an unchanged mtime, so a listing
    /// taken less than 50 ms after the directory's mtime is never reused.
    func ids(in dir: String) -> [String] {
        var st = stat()
        guard stat(dir, &st) == 0 else { return [] }
        let cached = listing.withLock { l -> [String]? in
            guard l.valid, l.mtime.tv_sec == st.st_mtim.tv_sec, l.mtime.tv_nsec == st.st_mtim.tv_nsec else { return nil }
            return l.ids
        }
        if let cached { return cached }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let ids = FileIO.listDirectory(dir).filter { $0.count == 64 }
        let settled = Double(now.tv_sec - st.st_mtim.tv_sec) + Double(now.tv_nsec - st.st_mtim.tv_nsec) / 1e9 > 0.05
        listing.withLock { $0 = DirectoryListing(ids: ids, mtime: st.st_mtim, valid: settled) }
        return ids
    }

    func record(_ id: String) -> ContainerRecord? { entries.withLock { $0.records[id] } }
    /// The kept records of `ids` that match, under one lock (the agent's workers list containers
    /// at once), and the ids not kept.
    func records(_ ids: [String], where matches: (ContainerRecord) -> Bool) -> (found: [ContainerRecord], missing: [String]) {
        entries.withLock { e in
            var found: [ContainerRecord] = [], missing: [String] = []
            for id in ids {
                if let r = e.records[id] { if matches(r) { found.append(r) } } else { missing.append(id) }
            }
            return (found, missing)
        }
    }
    func pid(_ id: String) -> PidRecord? { entries.withLock { $0.pids[id] } }
    func exit(_ id: String) -> ExitRecord? { entries.withLock { $0.exits[id] } }

    func keep(_ r: ContainerRecord) {
        // A name reservation (no cgroup yet) is completed later: only complete records are kept.
        guard !r.cgroupPath.isEmpty else { return }
        entries.withLock { $0.records[r.id] = r }
    }

    func keep(pid: PidRecord, for id: String) { entries.withLock { $0.pids[id] = pid } }
    func keep(exit: ExitRecord, for id: String) { entries.withLock { $0.exits[id] = exit } }

    /// Drops what belongs to containers no longer on disk.
    func retain(_ ids: Set<String>) {
        entries.withLock { e in
            guard e.records.count > ids.count || e.pids.count > ids.count || e.exits.count > ids.count else { return }
            e.records = e.records.filter { ids.contains($0.key) }
            e.pids = e.pids.filter { ids.contains($0.key) }
            e.exits = e.exits.filter { ids.contains($0.key) }
        }
    }
}

public struct ContainerStore: Sendable {
    public let root: String
    let cache = ContainerStoreCache()
    public init(root: String) { self.root = root }

    var containersDir: String { root + "/containers" }

    public func paths(_ id: String) -> ContainerPaths { ContainerPaths(root: root, id: id) }

    public func save(_ record: ContainerRecord) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let data = try enc.encode(record)
        try FileIO.writeAtomic(paths(record.id).record, Array(data))
        cache.keep(record)
    }

    public func load(id: String) throws -> ContainerRecord {
        if let cached = cache.record(id) { return cached }
        let bytes = try FileIO.read(paths(id).record)
        do {
            let record = try JSONDecoder().decode(ContainerRecord.self, from: Data(bytes))
            cache.keep(record)
            return record
        } catch {
            throw RuntimeError(.state, "container state \(paths(id).record) is unreadable", cause: error)
        }
    }

    /// The ids of every container on disk.
    public func ids() -> [String] { cache.ids(in: containersDir) }

    /// Every container with a readable record, oldest first.
    public func all() -> [ContainerRecord] {
        let ids = cache.ids(in: containersDir)
        cache.retain(Set(ids))
        return records(ids) { _ in true }.sorted { $0.createdAt < $1.createdAt }
    }

    /// The containers whose record matches, in no order: a node with thousands of finished
    /// containers looks up one pod's or one name's without copying and sorting them all.
    public func all(where matches: (ContainerRecord) -> Bool) -> [ContainerRecord] {
        records(cache.ids(in: containersDir), where: matches)
    }

    private func records(_ ids: [String], where matches: (ContainerRecord) -> Bool) -> [ContainerRecord] {
        let (found, missing) = cache.records(ids, where: matches)
        return found + missing.compactMap { try? load(id: $0) }.filter(matches)
    }

    /// Finds a container by exact name, full id, or unique id prefix.
    public func find(_ ref: String) throws -> ContainerRecord {
        // A full id needs no listing (the agent kills and removes by id).
        if ref.count == 64, let record = try? load(id: ref) { return record }
        if let byName = all(where: { $0.name == ref }).first { return byName }
        let matches = all(where: { $0.id.hasPrefix(ref) })
        guard !ref.isEmpty, let first = matches.first else {
            throw RuntimeError(.notFound, "no such container: \(ref)")
        }
        guard matches.count == 1 else {
            throw RuntimeError(.invalidArgument, "container id prefix \(ref) is ambiguous (\(matches.count) containers)")
        }
        return first
    }

    public func status(of id: String) -> ContainerRunState {
        if let exit = cache.exit(id) { return .exited(exit) }
        let p = paths(id)
        // A live process first (one /proc read): the agent asks about every running container
        // on every pass, and the exit record is only looked for once the process is gone.
        var pidRecord = cache.pid(id)
        if pidRecord == nil, let text = try? FileIO.readString(p.pidFile), let parsed = PidRecord(parsing: text) {
            cache.keep(pid: parsed, for: id)
            pidRecord = parsed
        }
        if let pid = pidRecord {
            if pid.isAlive { return .running(pid: pid.pid) }
            // Exited, but its monitor is still draining output before the exit record: not final yet.
            if pid.monitorIsAlive { return .running(pid: pid.pid) }
        }
        // The monitor may have written the record and gone since the first look.
        if let bytes = try? FileIO.read(p.exitFile), let exit = try? JSONDecoder().decode(ExitRecord.self, from: Data(bytes)) {
            cache.keep(exit: exit, for: id)
            return .exited(exit)
        }
        // A pid file whose process is gone without an exit record: the monitor was killed.
        if FileIO.exists(p.pidFile) {
            return .exited(ExitRecord(exitCode: 137, signal: 9, oomKilled: false, startedAt: "", finishedAt: ""))
        }
        return .created
    }

    /// A new random 64-hex-digit id.
    public static func newID() -> String {
        var rng = SystemRandomNumberGenerator()
        var s = ""
        for _ in 0..<4 {
            let word = String(rng.next() as UInt64, radix: 16)
            s += String(repeating: "0", count: 16 - word.count) + word
        }
        return s
    }
}
