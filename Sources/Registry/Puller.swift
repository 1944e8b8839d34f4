// `skiff image pull`: OCI distribution / Docker Registry v2 — resolve the reference on the first
// endpoint that has it (mirrors first), follow an index to the platform's manifest, then fetch
// config and layers (in parallel) into the content store. Every byte is checked against its
// digest before the store shows it; a blob another pull is fetching is waited for, not fetched twice.
import Foundation
import Images
#if canImport(Glibc)
import Glibc
#endif

public struct PullProgress: Sendable {
    public enum Stage: String, Sendable { case resolving, downloading, downloaded, exists, unpacking, done }
    public var item: String        // "manifest", "config", a layer's short digest
    public var stage: Stage
    public var bytes: Int64
    public var total: Int64
}

public final class Puller: @unchecked Sendable {
    let store: ImageStore
    let config: RegistryConfig
    let platform: Platform
    /// At most this many layers download at once.
    public var parallelism = 8
    static let manifestLimit = 4 * 1024 * 1024
    static let manifestAccept = [MediaType.ociIndex, MediaType.ociManifest, MediaType.dockerManifestList, MediaType.dockerManifest]
        .joined(separator: ", ")

    public init(store: ImageStore, config: RegistryConfig, platform: Platform = .current) {
        self.store = store
        self.config = config
        self.platform = platform
    }

    /// Pulls `text` (normalised like Docker) and returns the stored image.
    public func pull(_ text: String, progress: @escaping @Sendable (PullProgress) -> Void = { _ in }) throws -> ImageRecord {
        let ref: Reference
        do { ref = try Reference(parsing: text) } catch { throw RegistryError("invalid reference \"\(text)\": \(error)") }
        var failures: [String] = []
        for endpoint in config.endpoints(for: ref.domain) {
            let session = RegistrySession(endpoint: endpoint, repository: ref.path, host: config.hostConfig(for: endpoint, registry: ref.domain))
            do {
                return try pull(ref, from: session, progress: progress)
            } catch let e as EndpointUnusable {
                failures.append("\(endpoint): \(e.reason)")   // try the next endpoint
            }
        }
        throw RegistryError("pulling \(ref): no endpoint could serve it (" + failures.joined(separator: "; ") + ")")
    }

    /// Failures that mean "try another endpoint" (unreachable, 404, 5xx) rather than "this is wrong".
    struct EndpointUnusable: Error { let reason: String }

    func pull(_ ref: Reference, from session: RegistrySession, progress: @escaping @Sendable (PullProgress) -> Void) throws -> ImageRecord {
        progress(PullProgress(item: "manifest", stage: .resolving, bytes: 0, total: 0))
        var (descriptor, bytes) = try fetchManifest(session, reference: ref.digest?.description ?? ref.tag ?? "latest", expected: ref.digest)
        if MediaType.isIndex(descriptor.mediaType) {
            let index = try decode(ImageIndex.self, bytes, "index \(descriptor.digest)")
            let chosen: Descriptor
            do { chosen = try index.manifest(for: platform) } catch { throw RegistryError("\(ref): \(error)") }
            try storeBlob(descriptor, bytes)
            (descriptor, bytes) = try fetchManifest(session, reference: chosen.digest.description, expected: chosen.digest)
        }
        guard MediaType.isManifest(descriptor.mediaType) || descriptor.mediaType == nil else {
            throw RegistryError("\(ref): unsupported manifest type \(descriptor.mediaType ?? "none") (schema 1 images are not supported)")
        }
        let manifest = try decode(ImageManifest.self, bytes, "manifest \(descriptor.digest)")
        try storeBlob(descriptor, bytes)
        let configBytes: [UInt8]
        if store.hasBlob(manifest.config.digest) {
            configBytes = try store.readBlob(manifest.config.digest)
        } else {
            configBytes = try downloadBlob(session, manifest.config, keep: true, item: "config", progress: progress).bytes
        }
        let config = try decode(ImageConfig.self, configBytes, "config \(manifest.config.digest)")
        guard config.rootfs.diffIDs.count == manifest.layers.count else {
            throw RegistryError("\(ref): manifest lists \(manifest.layers.count) layers, its config \(config.rootfs.diffIDs.count)")
        }
        // Layers: download and unpack in parallel, each verified; the first error wins.
        let layers = Array(zip(manifest.layers, config.rootfs.diffIDs))
        let errors = ErrorBox()
        let gate = DispatchSemaphore(value: max(1, parallelism))
        let group = DispatchGroup()
        for (layer, diffID) in layers {
            gate.wait()
            if errors.first != nil { gate.signal(); break }
            group.enter()
            DispatchQueue.global().async {
                defer { gate.signal(); group.leave() }
                do {
                    let item = String(layer.digest.hex.prefix(12))
                    if self.store.hasBlob(layer.digest) {
                        progress(PullProgress(item: item, stage: .exists, bytes: layer.size, total: layer.size))
                    } else if try self.downloadAndUnpack(session, layer, diffID: diffID, item: item, progress: progress) {
                        return
                    }
                    progress(PullProgress(item: item, stage: .unpacking, bytes: layer.size, total: layer.size))
                    try self.store.unpackLayer(blob: layer.digest, diffID: diffID, mediaType: layer.mediaType)
                } catch {
                    errors.set(error)
                }
            }
        }
        group.wait()
        if let e = errors.first { throw e }
        let record = try store.record(manifestDigest: descriptor.digest, manifest: manifest, config: config, reference: ref)
        progress(PullProgress(item: "image", stage: .done, bytes: record.size, total: record.size))
        return record
    }

    /// The manifest at `reference` (tag or digest), its bytes verified against `expected` when given.
    func fetchManifest(_ s: RegistrySession, reference: String, expected: Digest?) throws -> (Descriptor, [UInt8]) {
        let r: FetchResponse
        do {
            r = try s.get("/manifests/\(reference)", accept: Self.manifestAccept, limit: Self.manifestLimit)
        } catch let e as RegistryError where e.description.contains("larger than") {
            throw RegistryError("manifest \(reference) of \(s.repository) is larger than \(Self.manifestLimit) bytes: refused")
        }
        if r.status == 404 || r.status >= 500 || r.status == 0 {
            throw EndpointUnusable(reason: "manifest \(reference): HTTP \(r.status)")
        }
        guard r.status == 200 else { throw RegistryError("\(s.endpoint): manifest \(reference) of \(s.repository): \(RegistrySession.describe(r))") }
        let hasher = SHA256Hasher()
        hasher.update(r.body[...])
        let digest = hasher.finish()
        if let expected, digest != expected {
            throw RegistryError("manifest \(reference): content has digest \(digest), expected \(expected)")
        }
        if let header = r.headers["docker-content-digest"], let claimed = try? Digest(parsing: header), claimed != digest {
            throw RegistryError("manifest \(reference): content has digest \(digest), the registry says \(claimed)")
        }
        var mediaType = r.headers["content-type"]?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) }
        if mediaType == nil || mediaType == "application/json" || mediaType == "text/plain" {
            // Fall back to the document's own mediaType field.
            mediaType = (try? JSONDecoder().decode(MediaTypeOnly.self, from: Data(r.body)))?.mediaType
        }
        return (Descriptor(mediaType: mediaType, digest: digest, size: Int64(r.body.count)), r.body)
    }

    struct MediaTypeOnly: Decodable { var mediaType: String? }

    func storeBlob(_ d: Descriptor, _ bytes: [UInt8]) throws {
        if store.hasBlob(d.digest) { return }
        try store.ingestBlob(d, keepInMemory: false) { sink in try bytes.withUnsafeBytes { try sink.write($0) } }
    }

    /// Downloads a layer and unpacks it from the same bytes as they arrive: an unpacking thread
    /// follows the blob's temporary file as it grows (no extra copy), so decompression and file
    /// writes overlap the transfer. True when the layer was both stored and unpacked; false when
    /// another pull stored the blob first.
    func downloadAndUnpack(_ s: RegistrySession, _ layer: Descriptor, diffID: Digest, item: String,
                           progress: @escaping @Sendable (PullProgress) -> Void) throws -> Bool {
        let growing = GrowingFile()
        let store = self.store
        let unpackError = ErrorBox()
        let unpacked = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            defer { unpacked.signal() }
            do { try store.unpackLayer(from: growing, blob: layer.digest, diffID: diffID) } catch { unpackError.set(error) }
        }
        let downloaded: Bool
        do {
            downloaded = try downloadBlob(s, layer, keep: false, item: item, progress: progress) { count, path in
                growing.grew(by: count, path: path)
            }.downloaded
        } catch {
            growing.finish(failed: true)
            unpacked.wait()
            throw error
        }
        growing.finish(failed: !downloaded)
        unpacked.wait()
        if !downloaded { return false }   // nothing streamed: unpack from the stored blob instead
        if let e = unpackError.first { throw e }
        return true
    }

    /// Downloads a blob into the store under a per-blob lock, so concurrent pulls (threads or
    /// processes) fetch it once; the loser of the race finds it present. `written` hears of every
    /// chunk once it is in the temporary file.
    func downloadBlob(_ s: RegistrySession, _ d: Descriptor, keep: Bool, item: String,
                      progress: @escaping @Sendable (PullProgress) -> Void,
                      written: ((Int, String) -> Void)? = nil) throws -> (bytes: [UInt8], downloaded: Bool) {
        let lockPath = store.scratchDirectory + "/pull-\(d.digest.hex).lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw RegistryError("cannot create \(lockPath): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 && errno == EINTR {}
        defer { flock(fd, LOCK_UN); unlink(lockPath) }
        if store.hasBlob(d.digest) {
            progress(PullProgress(item: item, stage: .exists, bytes: d.size, total: d.size))
            return (keep ? try store.readBlob(d.digest) : [], false)
        }
        var lastReport = Date.distantPast
        var status = 0
        let kept = try store.ingestBlob(d, keepInMemory: keep) { sink in
            let r = try s.get("/blobs/\(d.digest)", accept: "*/*", onBytes: { bytes in
                try sink.write(bytes)
                written?(bytes.count, sink.path)
                if Date().timeIntervalSince(lastReport) > 0.25 {
                    lastReport = Date()
                    progress(PullProgress(item: item, stage: .downloading, bytes: sink.count, total: d.size))
                }
            })
            status = r.status
            guard r.status == 200 else {
                throw RegistryError("blob \(d.digest) of \(s.repository) from \(s.endpoint): \(RegistrySession.describe(r))")
            }
        }
        _ = status
        progress(PullProgress(item: item, stage: .downloaded, bytes: d.size, total: d.size))
        return (kept, true)
    }

    func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8], _ what: String) throws -> T {
        do { return try JSONDecoder().decode(T.self, from: Data(bytes)) } catch { throw RegistryError("\(what) is not valid: \(error)") }
    }
}

final class ErrorBox: @unchecked Sendable {
    private let lock = NSLock()
    private var error: Error?
    var first: Error? { lock.lock(); defer { lock.unlock() }; return error }
    func set(_ e: Error) { lock.lock(); if error == nil { error = e }; lock.unlock() }
}

/// A file being written by a download, read by an unpacker: reads wait for bytes that are not
/// written yet, and end (or fail) when the download does. The read descriptor stays valid when
/// the file is renamed into the store (or unlinked after a failure).
final class GrowingFile: ByteSource, @unchecked Sendable {
    private let cond = NSCondition()
    private var available: Int64 = 0
    private var finished = false
    private var failed = false
    private var path: String?
    private var fd: Int32 = -1
    private var offset: Int64 = 0

    deinit { if fd >= 0 { close(fd) } }

    func grew(by count: Int, path: String) {
        cond.lock()
        available += Int64(count)
        if self.path == nil { self.path = path }
        cond.signal()
        cond.unlock()
    }

    func finish(failed: Bool) {
        cond.lock()
        finished = true
        self.failed = failed
        cond.signal()
        cond.unlock()
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        cond.lock()
        while offset == available && !finished { cond.wait() }
        let end = available
        let done = finished, broken = failed
        let path = self.path
        cond.unlock()
        if offset == end {
            if broken { throw RegistryError("the download stopped") }
            return 0
        }
        if fd < 0 {
            guard let path else { throw RegistryError("the download has no file") }
            fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw RegistryError("cannot follow the download \(path): \(String(cString: strerror(errno)))") }
        }
        _ = done
        let want = Int(min(Int64(buffer.count), end - offset))
        let n = pread(fd, buffer.baseAddress, want, off_t(offset))
        guard n >= 0 else { throw RegistryError("reading the download: \(String(cString: strerror(errno)))") }
        offset += Int64(n)
        return n
    }
}
