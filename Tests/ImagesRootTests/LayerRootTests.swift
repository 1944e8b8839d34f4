// Unpacking as root: ownership, devices, overlay whiteouts and opaque dirs seen through a real overlay mount.
import Foundation
import Testing
import TestSupport
@testable import Images
import CLinux

@Suite(.enabled(if: TestEnv.isRoot, "needs root: chown, mknod, trusted.* xattrs, mount"))
struct LayerRootTests {
    func unpack(_ tar: [UInt8], into dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try LayerUnpacker.unpack(TarReader(BytesSource(tar), name: "t"), into: dir, layerName: "test")
    }

    @Test func ownersModesAndDevicesAreKept() throws {
        let root = try TestEnv.makeTempDir("layer-root")
        defer { try? FileManager.default.removeItem(atPath: root) }
        var t = RootTar()
        t.add("srv", type: 53, mode: 0o750, uid: 1000, gid: 1001)
        t.add("srv/app", type: 48, data: Array("#!/bin/sh\n".utf8), mode: 0o4755, uid: 1000, gid: 1001)
        t.add("dev-null", type: 51, mode: 0o666, major: 1, minor: 3)
        try unpack(t.finish(), into: root + "/l")
        var st = stat()
        #expect(lstat(root + "/l/srv/app", &st) == 0)
        #expect(st.st_uid == 1000 && st.st_gid == 1001)
        #expect(st.st_mode & 0o7777 == 0o4755)   // setuid survives the chown
        #expect(lstat(root + "/l/srv", &st) == 0)
        #expect(st.st_mode & 0o7777 == 0o750 && st.st_uid == 1000)
        #expect(lstat(root + "/l/dev-null", &st) == 0)
        #expect(st.st_mode & S_IFMT == S_IFCHR)
    }

    @Test func whiteoutsAndOpaqueDirsWorkInARealOverlay() throws {
        let root = try TestEnv.makeTempDir("overlay")
        defer { try? FileManager.default.removeItem(atPath: root) }
        var lower = RootTar()
        lower.add("keep", type: 48, data: Array("k".utf8))
        lower.add("gone", type: 48, data: Array("g".utf8))
        lower.add("dir", type: 53)
        lower.add("dir/old", type: 48, data: Array("o".utf8))
        var upper = RootTar()
        upper.add(".wh.gone", type: 48)
        upper.add("dir", type: 53)
        upper.add("dir/.wh..wh..opq", type: 48)
        upper.add("dir/new", type: 48, data: Array("n".utf8))
        try unpack(lower.finish(), into: root + "/l1")
        try unpack(upper.finish(), into: root + "/l2")

        var st = stat()
        #expect(lstat(root + "/l2/gone", &st) == 0 && st.st_mode & S_IFMT == S_IFCHR && st.st_rdev == 0)
        var flag: UInt8 = 0
        #expect(getxattr(root + "/l2/dir", "trusted.overlay.opaque", &flag, 1) == 1 && flag == UInt8(ascii: "y"))

        for d in ["merged", "upper", "work"] { try FileManager.default.createDirectory(atPath: root + "/" + d, withIntermediateDirectories: true) }
        let opts = "lowerdir=\(root)/l2:\(root)/l1,upperdir=\(root)/upper,workdir=\(root)/work"
        #expect(mount("overlay", root + "/merged", "overlay", 0, opts) == 0, "mount: \(String(cString: strerror(errno)))")
        defer { umount2(root + "/merged", Int32(MNT_DETACH)) }
        let fm = FileManager.default
        #expect(fm.fileExists(atPath: root + "/merged/keep"))
        #expect(!fm.fileExists(atPath: root + "/merged/gone"))
        #expect(try fm.contentsOfDirectory(atPath: root + "/merged/dir") == ["new"])
        // Writes land in the container's upper dir, never in the layers.
        try Data("w".utf8).write(to: URL(fileURLWithPath: root + "/merged/keep"))
        #expect(try String(contentsOfFile: root + "/l1/keep", encoding: .utf8) == "k")
    }
}

/// Minimal ustar writer (root tests need owners, modes and device numbers).
struct RootTar {
    var bytes: [UInt8] = []
    mutating func add(_ name: String, type: UInt8, data: [UInt8] = [], mode: Int = 0o644, uid: Int = 0, gid: Int = 0,
                      major: Int = 0, minor: Int = 0) {
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ s: String, _ o: Int) { for (i, b) in s.utf8.enumerated() { h[o + i] = b } }
        func oct(_ v: Int, _ o: Int, _ l: Int) { let s = String(v, radix: 8); put(String(repeating: "0", count: l - 1 - s.count) + s, o) }
        put(name, 0); oct(mode, 100, 8); oct(uid, 108, 8); oct(gid, 116, 8); oct(data.count, 124, 12); oct(0, 136, 12)
        h[156] = type; put("ustar", 257); put("00", 263); oct(major, 329, 8); oct(minor, 337, 8)
        for i in 148..<156 { h[i] = 32 }
        oct(h.reduce(0) { $0 + Int($1) }, 148, 7)
        bytes += h + data + [UInt8](repeating: 0, count: (512 - data.count % 512) % 512)
    }
    mutating func finish() -> [UInt8] { bytes + [UInt8](repeating: 0, count: 1024) }
}
