import Testing
@testable import Runtime

/// The spawn file's byte format (CShims/shim/include/skiff_shim.h), checked without the kernel.
@Suite struct SpawnConfigTests {
    /// Splits the encoded bytes back into NUL-terminated strings.
    func fields(_ bytes: [UInt8]) -> [String] {
        bytes.split(separator: 0, omittingEmptySubsequences: false).dropLast().map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func encodesRecordsInOrder() throws {
        var c = SpawnConfig()
        c.rootfs = "/r"
        c.args = ["sh", "-c", "echo hi"]
        c.env = ["PATH=/bin"]
        c.hostname = "box"
        c.namespaces = [.init(type: "pid", path: nil), .init(type: "net", path: "/proc/1/ns/net")]
        c.mounts = [.init(source: "proc", destination: "/proc", fstype: "proc", flags: 14)]
        c.devices = [.init(path: "/dev/null", type: "c", major: 1, minor: 3, mode: 0o666)]
        c.rlimits = [.init(resource: 7, soft: 1024, hard: .max)]
        c.capabilities = .init(bounding: 0xa80425fb, effective: 0xff, permitted: 0xff, inheritable: 0, ambient: 0)
        c.groups = [10, 20]
        c.foreground = true
        let f = fields(try c.encoded())
        #expect(Array(f.prefix(8)) == ["rootfs", "/r", "arg", "sh", "arg", "-c", "arg", "echo hi"])
        let s = f.joined(separator: "|")
        #expect(s.contains("hostname|box"))
        #expect(s.contains("ns|pid|new|ns|net|/proc/1/ns/net"))
        #expect(s.contains("mount|proc|/proc|proc|14||"))
        #expect(s.contains("device|/dev/null|c|1|3|666|0|0"))
        #expect(s.contains("rlimit|7|1024|inf"))
        #expect(s.contains("groups|10,20"))
        #expect(s.contains("caps|a80425fb|ff|ff|0|0"))
        #expect(s.hasSuffix("foreground|1"))
        #expect(!s.contains("seccomp"))
    }

    @Test func stdinAndTerminalRecords() throws {
        var c = SpawnConfig()
        c.rootfs = "/r"
        c.args = ["sh"]
        let plain = fields(try c.encoded())
        #expect(!plain.contains("stdin") && !plain.contains("terminal"))
        c.terminal = true
        c.stdinSocket = "/state/attach"
        c.stdinOnce = true
        let s = fields(try c.encoded()).joined(separator: "|")
        #expect(s.contains("terminal|1|stdin|/state/attach|1"))
    }

    @Test func rejectsNulInAnyField() {
        var c = SpawnConfig()
        c.rootfs = "/r"
        c.args = ["sh"]
        c.env = ["A=b\u{0}c"]
        #expect(throws: RuntimeError.self) { try c.encoded() }
        c.env = []
        c.args = ["a\u{0}"]
        do {
            _ = try c.encoded()
            Issue.record("a NUL inside arg was accepted")
        } catch {
            #expect("\(error)".contains("arg"))
        }
    }

    @Test func pidRecordParses() {
        #expect(PidRecord(parsing: "123 4567\n") == PidRecord(parsing: "123 4567"))
        #expect(PidRecord(parsing: "123 4567\n")?.startTime == 4567)
        #expect(PidRecord(parsing: "x 1\n") == nil)
        #expect(PidRecord(parsing: "0 1\n") == nil)
    }
}
