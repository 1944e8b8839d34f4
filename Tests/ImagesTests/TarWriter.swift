// A tiny ustar/PAX writer for building test layers, including hostile ones tar(1) won't make.
import Foundation

struct TarWriter {
    private(set) var bytes: [UInt8] = []

    enum Kind: UInt8 { case file = 48, hardlink = 49, symlink = 50, char = 51, dir = 53 }

    mutating func add(_ path: String, _ kind: Kind = .file, data: [UInt8] = [], link: String = "", mode: Int = 0o644,
                      uid: Int = 0, gid: Int = 0, major: Int = 0, minor: Int = 0, pax: [String: String] = [:]) {
        if !pax.isEmpty || path.utf8.count > 100 {
            var records = pax
            if path.utf8.count > 100 { records["path"] = path }
            var body: [UInt8] = []
            for (k, v) in records.sorted(by: { $0.key < $1.key }) {
                let rest = " \(k)=\(v)\n"
                var len = rest.utf8.count + 1
                while "\(len)".utf8.count + rest.utf8.count > len { len += 1 }
                body += Array("\(len)\(rest)".utf8)
            }
            header("PaxHeaders/x", type: 120, size: body.count, link: "", mode: 0o644, uid: 0, gid: 0, major: 0, minor: 0)
            append(body)
        }
        header(String(path.prefix(100)), type: kind.rawValue, size: data.count, link: link, mode: mode, uid: uid, gid: gid,
               major: major, minor: minor)
        append(data)
    }

    mutating func finish() -> [UInt8] {
        bytes += [UInt8](repeating: 0, count: 1024)
        return bytes
    }

    private mutating func append(_ data: [UInt8]) {
        bytes += data
        bytes += [UInt8](repeating: 0, count: (512 - data.count % 512) % 512)
    }

    private mutating func header(_ name: String, type: UInt8, size: Int, link: String, mode: Int, uid: Int, gid: Int,
                                 major: Int, minor: Int) {
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ s: String, _ off: Int, _ len: Int) { for (i, b) in s.utf8.prefix(len).enumerated() { h[off + i] = b } }
        func octal(_ v: Int, _ off: Int, _ len: Int) { put(String(String(v, radix: 8).suffix(len - 1)).leftPad(len - 1), off, len - 1) }
        put(name, 0, 100)
        octal(mode, 100, 8); octal(uid, 108, 8); octal(gid, 116, 8); octal(size, 124, 12); octal(1_700_000_000, 136, 12)
        h[156] = type
        put(link, 157, 100)
        put("ustar", 257, 6); put("00", 263, 2)
        octal(major, 329, 8); octal(minor, 337, 8)
        for i in 148..<156 { h[i] = 32 }
        let sum = h.reduce(0) { $0 + Int($1) }
        put(String(String(sum, radix: 8)).leftPad(6), 148, 6)
        h[154] = 0; h[155] = 32
        bytes += h
    }
}

extension String {
    func leftPad(_ n: Int) -> String { String(repeating: "0", count: max(0, n - count)) + self }
}

/// gzip through the system's gzip (test-only: the library has its own decompressor).
func gzip(_ bytes: [UInt8]) throws -> [UInt8] {
    let dir = try FileManager.default.url(for: .itemReplacementDirectory, in: .userDomainMask,
                                          appropriateFor: URL(fileURLWithPath: "/tmp"), create: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let file = dir.appendingPathComponent("x")
    try Data(bytes).write(to: file)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/gzip")
    p.arguments = ["-n", "-k", file.path]
    try p.run()
    p.waitUntilExit()
    return Array(try Data(contentsOf: dir.appendingPathComponent("x.gz")))
}
