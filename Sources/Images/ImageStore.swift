// The content store: verified blobs, unpacked layers shared between images, and the image index.
//
//   <root>/blobs/sha256/<hex>     every manifest, config and layer blob, verified before use
//   <root>/layers/<diffid-hex>/   an unpacked layer (an overlay lower dir), unpacked once
//   <root>/images.json            references → manifest/config/layers (written atomically)
//   <root>/tmp/                   staging; anything here is garbage after a crash
//   <root>/.lock                  flock: serialises writers of images.json, and GC
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

public struct ImageRecord: Codable, Sendable, Equatable {
    /// Normalised references, e.g. "docker.io/library/busybox:latest".
    public var references: [String]
    public var manifestDigest: Digest
    public var configDigest: Digest
    public var layers: [Digest]
    public var diffIDs: [Digest]
    /// Compressed size of config and layers.
    public var size: Int64
    public var created: String?

    /// Docker's image id: the config digest.
    public var id: Digest { configDigest }
}

public final class ImageStore: @unchecked Sendable {
    // @unchecked: immutable after init; all mutation goes to disk under the flock.
    public let root: String

    public init(root: String) throws {
        self.root = root
        for dir in [root, root + "/blobs/sha256", root + "/layers", root + "/tmp"] { try Self.mkdirs(dir) }
    }

    public func blobPath(_ d: Digest) -> String { root + "/blobs/sha256/" + d.hex }
    public func layerPath(_ diffID: Digest) -> String { root + "/layers/" + diffID.hex }

    // MARK: queries

    public func list() throws -> [ImageRecord] { try loadIndex() }

    /// By reference (any form Docker accepts), or by id / manifest digest (or a unique prefix).
    public func resolve(_ text: String) throws -> ImageRecord {
        let images = try loadIndex()
        if let ref = try? Reference(parsing: text) {
            if let hit = images.first(where: { $0.references.contains(ref.description) }) { return hit }
            if let digest = ref.digest, let hit = images.first(where: { $0.manifestDigest == digest }) { return hit }
        }
        let hex = text.hasPrefix("sha256:") ? String(text.dropFirst(7)) : text
        if hex.count >= 4, hex.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) {
            let hits = images.filter { $0.id.hex.hasPrefix(hex) || $0.manifestDigest.hex.hasPrefix(hex) }
            if hits.count == 1 { return hits[0] }
            if hits.count > 1 { throw ImageError(.invalidReference, "image id prefix \(text) is ambiguous") }
        }
        throw ImageError(.notFound, "image \(text) not found")
    }

    public func config(of image: ImageRecord) throws -> ImageConfig {
        try decode(ImageConfig.self, from: try readBlob(image.configDigest), what: "config \(image.configDigest)")
    }

    /// The unpacked layer directories, bottom layer first; missing ones are unpacked now.
    public func layerDirectories(of image: ImageRecord) throws -> [String] {
        guard image.layers.count == image.diffIDs.count else {
            throw ImageError(.corrupt, "image \(image.manifestDigest): \(image.layers.count) layers but \(image.diffIDs.count) diff ids")
        }
        var dirs: [String] = []
        for (blob, diffID) in zip(image.layers, image.diffIDs) {
            try ensureUnpacked(blob: blob, diffID: diffID, mediaType: nil)
            dirs.append(layerPath(diffID))
        }
        return dirs
    }

    // MARK: import

    /// Imports an OCI image layout, a directory or a tar archive of one. Every manifest named in
    /// index.json is imported (with `reference`: only the one for this platform, named so).
    @discardableResult
    public func importLayout(_ path: String, reference: String? = nil, platform: Platform = .current) throws -> [ImageRecord] {
        var st = stat()
        guard stat(path, &st) == 0 else { throw ImageError(.notFound, "\(path): no such file or directory") }
        if (st.st_mode & S_IFMT) == S_IFDIR { return try importLayoutDirectory(path, reference: reference, platform: platform) }
        let staging = try makeTempDir()
        defer { try? Self.removeTree(staging) }
        try extractArchive(path, into: staging)
        return try importLayoutDirectory(staging, reference: reference, platform: platform)
    }

    private func importLayoutDirectory(_ dir: String, reference: String?, platform: Platform) throws -> [ImageRecord] {
        guard Self.exists(dir + "/oci-layout") || Self.exists(dir + "/index.json") else {
            throw ImageError(.notFound, "\(dir) is not an OCI image layout (no index.json)")
        }
        let index = try decode(ImageIndex.self, from: try Self.readFile(dir + "/index.json"), what: "\(dir)/index.json")
        var chosen: [(Descriptor, Reference)] = []
        if let reference {
            let ref = try Reference(parsing: reference)
            let candidates = index.manifests.count == 1 ? index.manifests[0] : try index.manifest(for: platform)
            chosen = [(candidates, ref)]
        } else {
            for m in index.manifests {
                let name = m.annotations?["io.containerd.image.name"] ?? m.annotations?["org.opencontainers.image.ref.name"]
                guard let name else { continue }
                guard name.contains("/") || name.contains(":") else {
                    throw ImageError(.invalidReference,
                        "\(dir): manifest \(m.digest) is only tagged \"\(name)\"; name the image with --tag REPO:TAG")
                }
                chosen.append((m, try Reference(parsing: name)))
            }
            guard !chosen.isEmpty else {
                throw ImageError(.invalidReference, "\(dir): no manifest carries a name; give one with --tag REPO:TAG")
            }
        }
        var records: [ImageRecord] = []
        for (descriptor, ref) in chosen {
            records.append(try importManifest(descriptor, from: dir, reference: ref, platform: platform))
        }
        return records
    }

    private func importManifest(_ d: Descriptor, from dir: String, reference: Reference, platform: Platform) throws -> ImageRecord {
        var descriptor = d
        var manifestBytes = try copyBlob(descriptor, from: dir)
        if MediaType.isIndex(descriptor.mediaType) {
            let nested = try decode(ImageIndex.self, from: manifestBytes, what: "index \(descriptor.digest)")
            descriptor = try nested.manifest(for: platform)
            manifestBytes = try copyBlob(descriptor, from: dir)
        }
        let manifest = try decode(ImageManifest.self, from: manifestBytes, what: "manifest \(descriptor.digest)")
        let configBytes = try copyBlob(manifest.config, from: dir)
        let config = try decode(ImageConfig.self, from: configBytes, what: "config \(manifest.config.digest)")
        let diffIDs = config.rootfs.diffIDs
        guard diffIDs.count == manifest.layers.count else {
            throw ImageError(.corrupt, "manifest \(descriptor.digest) lists \(manifest.layers.count) layers, its config \(diffIDs.count) diff ids")
        }
        for (layer, diffID) in zip(manifest.layers, diffIDs) {
            _ = try copyBlob(layer, from: dir, keepInMemory: false)
            try ensureUnpacked(blob: layer.digest, diffID: diffID, mediaType: layer.mediaType)
        }
        return try record(manifestDigest: descriptor.digest, manifest: manifest, config: config, reference: reference)
    }

    /// Records (or re-tags) an image whose blobs and layers are in the store.
    public func record(manifestDigest: Digest, manifest: ImageManifest, config: ImageConfig, reference: Reference) throws -> ImageRecord {
        let record = ImageRecord(references: [reference.description], manifestDigest: manifestDigest,
                                 configDigest: manifest.config.digest, layers: manifest.layers.map(\.digest),
                                 diffIDs: config.rootfs.diffIDs, size: manifest.config.size + manifest.layers.reduce(0) { $0 + $1.size },
                                 created: config.created)
        try withLock {
            var images = try loadIndex()
            // A reference names one image: move it from any other image.
            for i in images.indices { images[i].references.removeAll { $0 == reference.description } }
            if let i = images.firstIndex(where: { $0.manifestDigest == record.manifestDigest }) {
                images[i].references.append(reference.description)
            } else {
                images.append(record)
            }
            images.removeAll { $0.references.isEmpty }
            try saveIndex(images)
        }
        return try resolve(reference.description)
    }

    /// Copies a blob from a layout into the store, verifying size and digest on the way.
    private func copyBlob(_ d: Descriptor, from dir: String, keepInMemory: Bool = true) throws -> [UInt8] {
        if hasBlob(d.digest) { return keepInMemory ? try Self.readFile(blobPath(d.digest)) : [] }
        let src = dir + "/blobs/sha256/" + d.digest.hex
        let input = open(src, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw ImageError(.notFound, "blob \(d.digest) missing from \(dir)") }
        defer { close(input) }
        return try ingestBlob(d, keepInMemory: keepInMemory) { sink in
            let source = FileSource(fd: input, path: src)
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 17, alignment: 16)
            defer { buffer.deallocate() }
            while true {
                let n = try source.read(into: buffer)
                if n == 0 { break }
                try sink.write(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            }
        }
    }

    public func hasBlob(_ d: Digest) -> Bool { Self.exists(blobPath(d)) }

    /// Receives a blob's bytes: counts, hashes and writes them; refuses more than the descriptor's size.
    public final class BlobSink {
        let fd: Int32
        /// The temporary file the blob is written to (readable while it grows).
        public let path: String
        let expected: Descriptor
        let keep: Bool
        let hasher = SHA256Hasher()
        public private(set) var count: Int64 = 0
        var kept: [UInt8] = []

        init(fd: Int32, path: String, expected: Descriptor, keep: Bool) {
            self.fd = fd; self.path = path; self.expected = expected; self.keep = keep
        }

        public func write(_ bytes: UnsafeRawBufferPointer) throws {
            count += Int64(bytes.count)
            guard count <= expected.size else {
                throw ImageError(.corrupt, "blob \(expected.digest): more than the \(expected.size) bytes its descriptor declares")
            }
            hasher.update(bytes)
            if keep { kept.append(contentsOf: bytes) }
            var off = 0
            while off < bytes.count {
                let w = Glibc.write(fd, bytes.baseAddress! + off, bytes.count - off)
                if w < 0 { if errno == EINTR { continue }; throw ImageStore.posix("write", path) }
                off += w
            }
        }
    }

    /// Writes a blob into the store through `fill`, verifying its size and digest before it
    /// becomes visible (tmp file, fsync, rename): a failed or corrupt transfer leaves nothing.
    @discardableResult
    public func ingestBlob(_ d: Descriptor, keepInMemory: Bool, fill: (BlobSink) throws -> Void) throws -> [UInt8] {
        let dest = blobPath(d.digest)
        let tmp = root + "/tmp/blob-\(d.digest.hex.prefix(16))-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard out >= 0 else { throw Self.posix("create", tmp) }
        var ok = false
        defer { close(out); if !ok { unlink(tmp) } }
        let sink = BlobSink(fd: out, path: tmp, expected: d, keep: keepInMemory)
        try fill(sink)
        guard sink.count == d.size else {
            throw ImageError(.corrupt, "blob \(d.digest): size \(sink.count) bytes, expected \(d.size)")
        }
        let actual = sink.hasher.finish()
        guard actual == d.digest else {
            throw ImageError(.digestMismatch, "blob \(d.digest): content has digest \(actual)")
        }
        // fdatasync: the data and the size that reads need, not timestamps.
        guard fdatasync(out) == 0, rename(tmp, dest) == 0 else { throw Self.posix("store blob", dest) }
        ok = true
        return sink.kept
    }

    /// Unpacks a pulled or imported layer blob (see ensureUnpacked).
    public func unpackLayer(blob: Digest, diffID: Digest, mediaType: String?) throws {
        try ensureUnpacked(blob: blob, diffID: diffID, mediaType: mediaType)
    }

    /// A directory under the store for scratch work (same filesystem: renames are atomic).
    public var scratchDirectory: String { root + "/tmp" }

    /// Unpacks a layer blob into layers/<diffid> unless already there; the uncompressed stream
    /// must hash to the diff id. Built in tmp/ and renamed into place when complete.
    private func ensureUnpacked(blob: Digest, diffID: Digest, mediaType: String?) throws {
        if Self.exists(layerPath(diffID)) { return }
        let src = blobPath(blob)
        let fd = open(src, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ImageError(.notFound, "layer blob \(blob) is not in the store") }
        defer { close(fd) }
        try unpackLayer(from: FileSource(fd: fd, path: src), blob: blob, diffID: diffID)
    }

    /// Unpacks a layer from its (compressed) blob stream — a file, or a download as it arrives —
    /// into layers/<diffid>. The uncompressed stream must hash to the diff id; the layer is built
    /// in tmp/ and renamed into place only when complete. Reads `upstream` to its end.
    public func unpackLayer(from upstream: ByteSource, blob: Digest, diffID: Digest) throws {
        let final = layerPath(diffID)
        let peek = PeekSource(upstream)
        let magic = try peek.peek(4)
        let raw: ByteSource
        if magic.starts(with: [0x1f, 0x8b]) { raw = try GzipSource(peek, name: "layer \(blob)") }
        else if magic == [0x28, 0xb5, 0x2f, 0xfd] { raw = try ZstdSource(peek, name: "layer \(blob)") }
        else { raw = peek }
        let sink = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { sink.deallocate() }
        if Self.exists(final) {   // already unpacked: just consume the stream
            while try peek.read(into: sink) > 0 {}
            return
        }
        let staging = try makeTempDir()
        var done = false
        defer { if !done { try? Self.removeTree(staging) } }
        let hashed = HashingSource(raw)
        let reader = TarReader(hashed, name: "layer \(blob)")
        try LayerUnpacker.unpack(reader, into: staging, layerName: blob.description)
        // Hash the whole stream, including the tar's trailing padding.
        while try hashed.read(into: sink) > 0 {}
        let actual = hashed.hasher.finish()
        guard actual == diffID else {
            throw ImageError(.digestMismatch, "layer \(blob): uncompressed content has digest \(actual), config says \(diffID)")
        }
        // Drain what follows the compressed stream (nothing, normally).
        while try peek.read(into: sink) > 0 {}
        if rename(staging, final) != 0 {
            // Someone else unpacked it meanwhile: theirs is as good as ours.
            if errno == EEXIST || errno == ENOTEMPTY { return }
            throw Self.posix("rename layer into", final)
        }
        done = true
    }

    /// Extracts a tar(.gz) archive of an image layout with the same safety rules as layers.
    private func extractArchive(_ path: String, into dir: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Self.posix("open", path) }
        defer { close(fd) }
        let file = FileSource(fd: fd, path: path)
        let source: ByteSource = try Self.isGzip(fd) ? GzipSource(file, name: path) : file
        try LayerUnpacker.unpack(TarReader(source, name: path), into: dir, layerName: path)
    }

    // MARK: removal

    /// Untags `ref`; the image record goes when no reference remains (or when named by id).
    public func remove(_ ref: String) throws {
        let image = try resolve(ref)
        try withLock {
            var images = try loadIndex()
            let normalized = (try? Reference(parsing: ref))?.description
            guard let i = images.firstIndex(where: { $0.manifestDigest == image.manifestDigest }) else { return }
            if let normalized, images[i].references.contains(normalized) {
                images[i].references.removeAll { $0 == normalized }
                if images[i].references.isEmpty { images.remove(at: i) }
            } else {
                images.remove(at: i)
            }
            try saveIndex(images)
        }
    }

    public struct GCResult: Sendable, Equatable {
        public var blobsRemoved = 0
        public var layersRemoved = 0
        public var bytesFreed: Int64 = 0
    }

    /// Deletes blobs and unpacked layers no image references (nor `keepLayers`: layers in use
    /// by containers), and leftovers in tmp/.
    public func garbageCollect(keepLayers: Set<Digest> = []) throws -> GCResult {
        try withLock {
            let images = try loadIndex()
            var blobs = Set<String>()
            var layers = Set(keepLayers.map(\.hex))
            for i in images {
                blobs.insert(i.manifestDigest.hex)
                blobs.insert(i.configDigest.hex)
                i.layers.forEach { blobs.insert($0.hex) }
                i.diffIDs.forEach { layers.insert($0.hex) }
            }
            var result = GCResult()
            for name in Self.list(root + "/blobs/sha256") where !blobs.contains(name) {
                let p = root + "/blobs/sha256/" + name
                result.bytesFreed += Self.size(p)
                unlink(p)
                result.blobsRemoved += 1
            }
            for name in Self.list(root + "/layers") where !layers.contains(name) {
                let p = root + "/layers/" + name
                result.bytesFreed += Self.treeSize(p)
                try Self.removeTree(p)
                result.layersRemoved += 1
            }
            // Leftovers of interrupted pulls and imports; recent ones may belong to a pull in progress.
            let cutoff = time(nil) - 3600
            for name in Self.list(root + "/tmp") {
                var st = stat()
                if lstat(root + "/tmp/" + name, &st) == 0, st.st_mtim.tv_sec < cutoff { try? Self.removeTree(root + "/tmp/" + name) }
            }
            return result
        }
    }

    // MARK: index file

    private struct IndexFile: Codable { var images: [ImageRecord] }

    private func loadIndex() throws -> [ImageRecord] {
        let path = root + "/images.json"
        guard Self.exists(path) else { return [] }
        return try decode(IndexFile.self, from: try Self.readFile(path), what: path).images
    }

    private func saveIndex(_ images: [ImageRecord]) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .prettyPrinted]
        let bytes = Array(try enc.encode(IndexFile(images: images)))
        let path = root + "/images.json"
        let tmp = path + ".tmp.\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Self.posix("create", tmp) }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == bytes.count, synced, rename(tmp, path) == 0 else { unlink(tmp); throw Self.posix("write", path) }
    }

    private func withLock<T>(_ body: () throws -> T) throws -> T {
        let fd = open(root + "/.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Self.posix("open", root + "/.lock") }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw Self.posix("lock", root) }
        return try body()
    }

    private func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8], what: String) throws -> T {
        guard bytes.count <= 4 << 20 else { throw ImageError(.corrupt, "\(what) is larger than 4 MiB") }
        do { return try JSONDecoder().decode(T.self, from: Data(bytes)) } catch {
            throw ImageError(.corrupt, "\(what) is not valid: \(error)")
        }
    }

    public func readBlob(_ d: Digest) throws -> [UInt8] {
        guard Self.exists(blobPath(d)) else { throw ImageError(.notFound, "blob \(d) is not in the store") }
        return try Self.readFile(blobPath(d))
    }

    private func makeTempDir() throws -> String {
        var template = Array((root + "/tmp/unpack-XXXXXX").utf8CString)
        guard let p = mkdtemp(&template) else { throw Self.posix("mkdtemp", root + "/tmp") }
        return String(cString: p)
    }

    // MARK: file helpers

    static func isGzip(_ fd: Int32) throws -> Bool { try compression(fd) == .gzip }

    enum Compression { case none, gzip, zstd }

    /// By magic number, not media type: registries and tools mislabel layers often enough.
    static func compression(_ fd: Int32) throws -> Compression {
        var magic: [UInt8] = [0, 0, 0, 0]
        let n = pread(fd, &magic, 4, 0)
        if n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b { return .gzip }
        if n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] { return .zstd }
        return .none
    }

    static func exists(_ p: String) -> Bool { access(p, F_OK) == 0 }

    static func mkdirs(_ path: String) throws {
        var current = ""
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, 0o755) != 0 && errno != EEXIST { throw posix("mkdir", current) }
        }
    }

    static func readFile(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw posix("open", path) }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buf, buf.count)
            if n < 0 { if errno == EINTR { continue }; throw posix("read", path) }
            if n == 0 { return out }
            out.append(contentsOf: buf[0..<n])
        }
    }

    static func list(_ dir: String) -> [String] {
        guard let d = opendir(dir) else { return [] }
        defer { closedir(d) }
        return DirectoryEntries.names(d)
    }

    static func size(_ path: String) -> Int64 {
        var st = stat()
        return lstat(path, &st) == 0 ? Int64(st.st_size) : 0
    }

    static func treeSize(_ path: String) -> Int64 {
        var st = stat()
        guard lstat(path, &st) == 0 else { return 0 }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { return Int64(st.st_size) }
        return list(path).reduce(0) { $0 + treeSize(path + "/" + $1) }
    }

    /// rm -rf without following symlinks.
    static func removeTree(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            for name in list(path) { try removeTree(path + "/" + name) }
            if rmdir(path) != 0 && errno != ENOENT { throw posix("rmdir", path) }
        } else if unlink(path) != 0 && errno != ENOENT {
            throw posix("unlink", path)
        }
    }

    static func posix(_ what: String, _ path: String) -> ImageError {
        ImageError(.io, "\(what) \(path): \(String(cString: strerror(errno)))")
    }
}
