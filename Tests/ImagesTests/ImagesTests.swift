import Foundation
import Testing
import TestSupport
@testable import Images

@Suite struct DigestAndReferenceTests {
    @Test func digests() throws {
        #expect(Digest.of([]).description == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Digest.of(Array("abc".utf8)).hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        for bad in ["sha256:abc", "md5:" + String(repeating: "a", count: 64), "sha256:" + String(repeating: "G", count: 64), ""] {
            #expect(throws: ImageError.self) { try Digest(parsing: bad) }
        }
    }

    static let references: [(String, String)] = [
        ("busybox", "docker.io/library/busybox:latest"),
        ("busybox:1.36", "docker.io/library/busybox:1.36"),
        ("library/busybox", "docker.io/library/busybox:latest"),
        ("bitnami/redis:7", "docker.io/bitnami/redis:7"),
        ("localhost:5000/ns/name:tag", "localhost:5000/ns/name:tag"),
        ("127.0.0.1:5000/app", "127.0.0.1:5000/app:latest"),
        ("quay.io/coreos/etcd:v3.5", "quay.io/coreos/etcd:v3.5"),
        ("index.docker.io/library/nginx:1.25", "docker.io/library/nginx:1.25"),
        ("nginx@sha256:" + String(repeating: "a", count: 64), "docker.io/library/nginx@sha256:" + String(repeating: "a", count: 64)),
    ]

    @Test(arguments: references)
    func normalisesLikeDocker(input: String, normalised: String) throws {
        #expect(try Reference(parsing: input).description == normalised)
    }

    @Test func familiarForm() throws {
        #expect(try Reference(parsing: "docker.io/library/busybox:latest").familiar == "busybox:latest")
        #expect(try Reference(parsing: "localhost:5000/x:1").familiar == "localhost:5000/x:1")
    }

    @Test(arguments: ["", "UPPER/case", "a//b", "name:", "name:-bad", ":tag", "a/b:c:d/e", "x@sha256:12"])
    func rejectsBadReferences(input: String) {
        #expect(throws: ImageError.self) { try Reference(parsing: input) }
    }
}

@Suite struct TarAndUnpackTests {
    func unpack(_ tar: [UInt8], gzipped: Bool = false) throws -> String {
        let dir = try TestEnv.makeTempDir("unpack")
        do {
            let source: ByteSource = gzipped ? try GzipSource(BytesSource(try gzip(tar)), name: "t") : BytesSource(tar)
            try LayerUnpacker.unpack(TarReader(source, name: "t"), into: dir, layerName: "test-layer")
        } catch {
            try? FileManager.default.removeItem(atPath: dir)
            throw error
        }
        return dir
    }

    @Test func readsFilesDirsLinksAndLongNames() throws {
        var t = TarWriter()
        let long = "a/" + String(repeating: "d", count: 120) + "/file.txt"
        t.add("./etc/", .dir, mode: 0o755)
        t.add("./etc/hosts", data: Array("127.0.0.1 localhost\n".utf8), mode: 0o600)
        t.add("./etc/alias", .symlink, link: "hosts")
        t.add("./etc/hard", .hardlink, link: "etc/hosts")
        t.add(long, data: Array("deep".utf8))
        t.add("./x", data: Array("pax".utf8), pax: ["mtime": "1700000000.5"])
        let dir = try unpack(t.finish(), gzipped: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try String(contentsOfFile: dir + "/etc/hosts", encoding: .utf8) == "127.0.0.1 localhost\n")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: dir + "/etc/alias") == "hosts")
        let a = try FileManager.default.attributesOfItem(atPath: dir + "/etc/hosts")
        let b = try FileManager.default.attributesOfItem(atPath: dir + "/etc/hard")
        #expect(a[.systemFileNumber] as? Int == b[.systemFileNumber] as? Int)
        #expect((a[.posixPermissions] as? Int) == 0o600)
        #expect(try String(contentsOfFile: dir + "/" + long, encoding: .utf8) == "deep")
        #expect(try String(contentsOfFile: dir + "/x", encoding: .utf8) == "pax")
    }

    static let escapes: [(String, TarWriter.Kind, String)] = [
        ("../evil", .file, ""),
        ("/etc/evil", .file, ""),
        ("a/../../evil", .file, ""),
        ("link-out", .hardlink, "../../etc/passwd"),
    ]

    @Test(arguments: escapes)
    func refusesEntriesThatEscape(path: String, kind: TarWriter.Kind, link: String) throws {
        var t = TarWriter()
        t.add(path, kind, data: kind == .file ? Array("x".utf8) : [], link: link)
        let dir = try TestEnv.makeTempDir("unpack-escape")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            try LayerUnpacker.unpack(TarReader(BytesSource(t.finish()), name: "t"), into: dir, layerName: "evil-layer")
            Issue.record("unpacking \(path) should fail")
        } catch let e as ImageError {
            #expect(e.code == .unsafePath)
            #expect(e.description.contains("evil-layer"))
        }
        #expect(!FileManager.default.fileExists(atPath: (dir as NSString).deletingLastPathComponent + "/evil"))
    }

    @Test func refusesWritingThroughASymlinkInTheLayer() throws {
        let outside = try TestEnv.makeTempDir("outside")
        defer { try? FileManager.default.removeItem(atPath: outside) }
        var t = TarWriter()
        t.add("escape", .symlink, link: outside)
        t.add("escape/planted", data: Array("gotcha".utf8))
        let dir = try TestEnv.makeTempDir("unpack-symlink")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(throws: ImageError.self) {
            try LayerUnpacker.unpack(TarReader(BytesSource(t.finish()), name: "t"), into: dir, layerName: "l")
        }
        #expect(!FileManager.default.fileExists(atPath: outside + "/planted"))
    }

    @Test func laterEntriesReplaceEarlierOnes() throws {
        var t = TarWriter()
        t.add("f", data: Array("one".utf8))
        t.add("f", data: Array("two".utf8))
        t.add("d", .dir)
        t.add("d/inner", data: Array("x".utf8))
        t.add("d", data: Array("now a file".utf8))
        let dir = try unpack(t.finish())
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try String(contentsOfFile: dir + "/f", encoding: .utf8) == "two")
        #expect(try String(contentsOfFile: dir + "/d", encoding: .utf8) == "now a file")
    }

    @Test func corruptArchivesAreClearErrors() throws {
        var t = TarWriter()
        t.add("f", data: [UInt8](repeating: 7, count: 5000))
        var tar = t.finish()
        var badSum = tar
        badSum[10] ^= 0xff
        #expect(throws: ImageError.self) { try unpack(badSum) }
        tar.removeLast(tar.count - 2000)   // cut inside the file's data
        #expect(throws: ImageError.self) { try unpack(tar) }
        let gz = try gzip(t.finish())
        let truncated = Array(gz.prefix(gz.count / 2))
        #expect(throws: ImageError.self) {
            let dir = try TestEnv.makeTempDir("unpack-gz")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try LayerUnpacker.unpack(TarReader(try GzipSource(BytesSource(truncated), name: "t"), name: "t"), into: dir, layerName: "l")
        }
    }
}

@Suite struct ImageStoreTests {
    func store() throws -> (ImageStore, String) {
        let root = try TestEnv.makeTempDir("imgstore")
        return (try ImageStore(root: root + "/images"), root)
    }

    @Test func importsTheTestImageAndResolvesItEveryWay() throws {
        let (s, root) = try store()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let records = try s.importLayout(try TestEnv.busyboxImageLayout(), reference: "busybox:latest")
        #expect(records.count == 1)
        let image = records[0]
        #expect(image.references == ["docker.io/library/busybox:latest"])
        for ref in ["busybox", "busybox:latest", "docker.io/library/busybox:latest", String(image.id.hex.prefix(12)),
                    image.manifestDigest.description] {
            #expect(try s.resolve(ref) == image, "\(ref)")
        }
        #expect(throws: ImageError.self) { try s.resolve("busybox:nope") }
        let dirs = try s.layerDirectories(of: image)
        #expect(dirs.count == 1)
        #expect(FileManager.default.fileExists(atPath: dirs[0] + "/bin/busybox"))
        #expect(try s.config(of: image).config?.cmd == ["sh"])
        // Importing again is idempotent and unpacks nothing new.
        _ = try s.importLayout(try TestEnv.busyboxImageLayout(), reference: "busybox:latest")
        #expect(try s.list().count == 1)
    }

    @Test func importsAnArchiveAndNamesFromAnnotations() throws {
        let (s, root) = try store()
        defer { try? FileManager.default.removeItem(atPath: root) }
        var t = TarWriter()
        t.add("hello.txt", data: Array("hi".utf8))
        let layout = try LayoutBuilder.write(layers: [t.finish()], ref: "example.com/test/img:1", into: root + "/layout")
        let archive = root + "/layout.tar"
        #expect(try TestEnv.run(["/bin/tar", "-C", layout.dir, "-cf", archive, "."]) == 0)
        let records = try s.importLayout(archive)
        #expect(records.map(\.references) == [["example.com/test/img:1"]])
        #expect(try s.list().count == 1)
        #expect((try FileManager.default.contentsOfDirectory(atPath: root + "/images/tmp")).isEmpty)
    }

    @Test func digestMismatchLeavesNothingHalfWritten() throws {
        let (s, root) = try store()
        defer { try? FileManager.default.removeItem(atPath: root) }
        var t = TarWriter()
        t.add("f", data: Array("original".utf8))
        let layout = try LayoutBuilder.write(layers: [t.finish()], into: root + "/layout")
        // Corrupt the layer blob on disk (same size, different bytes).
        let blob = layout.dir + "/blobs/sha256/" + layout.layerDigests[0].hex
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: blob)))
        bytes[bytes.count / 2] ^= 0x55
        try Data(bytes).write(to: URL(fileURLWithPath: blob))
        do {
            _ = try s.importLayout(layout.dir)
            Issue.record("a corrupt blob must be refused")
        } catch let e as ImageError {
            #expect(e.code == .digestMismatch)
            #expect(e.description.contains(layout.layerDigests[0].description))
        }
        #expect(try s.list().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: s.blobPath(layout.layerDigests[0])))
        #expect((try FileManager.default.contentsOfDirectory(atPath: root + "/images/layers")).isEmpty)
        #expect((try FileManager.default.contentsOfDirectory(atPath: root + "/images/tmp")).isEmpty)
    }

    @Test func anEscapingLayerIsRefusedAndNotKept() throws {
        let (s, root) = try store()
        defer { try? FileManager.default.removeItem(atPath: root) }
        var t = TarWriter()
        t.add("ok", data: Array("fine".utf8))
        t.add("../../escaped", data: Array("bad".utf8))
        let layout = try LayoutBuilder.write(layers: [t.finish()], into: root + "/layout")
        #expect(throws: ImageError.self) { try s.importLayout(layout.dir) }
        #expect((try FileManager.default.contentsOfDirectory(atPath: root + "/images/layers")).isEmpty)
        #expect((try FileManager.default.contentsOfDirectory(atPath: root + "/images/tmp")).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: root + "/images/escaped"))
    }

    @Test func removeAndGarbageCollect() throws {
        let (s, root) = try store()
        defer { try? FileManager.default.removeItem(atPath: root) }
        var a = TarWriter(); a.add("shared", data: Array("base".utf8))
        var b = TarWriter(); b.add("top", data: Array("app".utf8))
        let base = a.finish(), top = b.finish()
        _ = try s.importLayout(try LayoutBuilder.write(layers: [base], ref: "example.com/a:1", into: root + "/l1").dir)
        _ = try s.importLayout(try LayoutBuilder.write(layers: [base, top], ref: "example.com/b:1", into: root + "/l2").dir)
        #expect((try FileManager.default.contentsOfDirectory(atPath: root + "/images/layers")).count == 2)
        try s.remove("example.com/b:1")
        #expect(try s.list().map(\.references) == [["example.com/a:1"]])
        let gc = try s.garbageCollect()
        #expect(gc.layersRemoved == 1)   // "top" only: "base" is still used by a:1
        #expect(gc.blobsRemoved == 3)    // b's manifest, config and top layer
        #expect(gc.bytesFreed > 0)
        #expect(throws: ImageError.self) { try s.remove("example.com/b:1") }
    }
}
