import Testing
@testable import Runtime

@Suite struct ResourceQuantityTests {
    static let memoryCases: [(String, Int64)] = [
        ("64Mi", Int64(64 << 20)), ("1Gi", Int64(1 << 30)), ("1.5Gi", Int64(3 << 29)), ("1000", 1000),
        ("1k", 1000), ("2M", 2_000_000), ("512Ki", 512 * 1024),
    ]

    @Test(arguments: memoryCases)
    func memory(text: String, bytes: Int64) throws {
        #expect(try ResourceQuantity.bytes(text) == bytes)
    }

    @Test(arguments: ["", "64m", "-1Mi", "0", "abc", "1.5", "Mi", "1e400", "+5Mi"])
    func badMemory(text: String) {
        #expect(throws: RuntimeError.self) { try ResourceQuantity.bytes(text) }
    }

    @Test func badMemoryMessageNamesFlagAndValue() {
        do { _ = try ResourceQuantity.bytes("lots"); Issue.record("expected an error") } catch {
            #expect("\(error)".contains("--memory \"lots\""))
        }
    }

    static let cpuCases: [(String, Int64)] = [("0.5", 500), ("2", 2000), ("500m", 500), ("0.001", 1), ("1.25", 1250)]

    @Test(arguments: cpuCases)
    func cpus(text: String, milli: Int64) throws {
        #expect(try ResourceQuantity.milliCPUs(text) == milli)
    }

    @Test(arguments: ["", "0", "-1", "0.0001", "m", "x", "nan"])
    func badCPUs(text: String) {
        #expect(throws: RuntimeError.self) { try ResourceQuantity.milliCPUs(text) }
    }
}

@Suite struct UserResolverTests {
    let passwd = "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33::/var/www:/bin/false\nnobody:x:65534:65534::/:/bin/false\n"
    let group = "root:x:0:\nwww-data:x:33:\nwheel:x:10:www,alice\nnogroup:x:65534:\n"

    @Test func defaultsToRoot() throws {
        #expect(try UserResolver.resolve(nil, passwd: passwd, group: group) == ResolvedUser(uid: 0, gid: 0, groups: [0]))
    }

    @Test func nameResolvesUidGidAndSupplementaryGroups() throws {
        #expect(try UserResolver.resolve("www", passwd: passwd, group: group) == ResolvedUser(uid: 33, gid: 33, groups: [33, 10]))
    }

    @Test func numericUidUsesPasswdGid() throws {
        #expect(try UserResolver.resolve("65534", passwd: passwd, group: group).gid == 65534)
    }

    @Test func numericUidWithoutEntryGetsGidZero() throws {
        #expect(try UserResolver.resolve("1234", passwd: passwd, group: group) == ResolvedUser(uid: 1234, gid: 0, groups: [0]))
    }

    @Test func explicitGroup() throws {
        #expect(try UserResolver.resolve("1000:nogroup", passwd: passwd, group: group).gid == 65534)
        #expect(try UserResolver.resolve("1000:77", passwd: nil, group: nil) == ResolvedUser(uid: 1000, gid: 77, groups: [77]))
    }

    @Test func unknownNamesAreClearErrors() {
        #expect(throws: RuntimeError.self) { try UserResolver.resolve("ghost", passwd: passwd, group: group) }
        #expect(throws: RuntimeError.self) { try UserResolver.resolve("root:ghosts", passwd: passwd, group: group) }
    }
}

@Suite struct SecurityDefaultsTests {
    @Test func defaultCapabilitiesAreDockers() {
        let set = CapabilitySet.containerDefault
        #expect(set.names.count == 14)
        for cap in ["CAP_CHOWN", "CAP_NET_RAW", "CAP_SETPCAP", "CAP_AUDIT_WRITE", "CAP_SYS_CHROOT"] { #expect(set.contains(cap)) }
        #expect(!set.contains("CAP_SYS_ADMIN"))
        #expect(!set.contains("CAP_NET_ADMIN"))
        // The exact mask Docker containers show in /proc/self/status.
        #expect(set.hex == "00000000a80425fb")
    }

    @Test func capabilityNames() throws {
        #expect(try CapabilitySet(names: ["sys_admin", "CAP_KILL"]).mask == (1 << 21) | (1 << 5))
        #expect(throws: RuntimeError.self) { try CapabilitySet(names: ["CAP_FLY"]) }
        #expect(CapabilitySet.all.hex == "000001ffffffffff")
    }

    @Test func runtimeDefaultProfileCompiles() throws {
        let bpf = try SeccompProfile.runtimeDefault.compileBPF()
        // struct sock_filter is 8 bytes; a real profile is dozens of instructions.
        #expect(bpf.count % 8 == 0)
        #expect(bpf.count / 8 > 50)
    }

    @Test func signals() throws {
        #expect(try Signals.number(of: "TERM") == 15)
        #expect(try Signals.number(of: "SIGKILL") == 9)
        #expect(try Signals.number(of: "10") == 10)
        #expect(throws: RuntimeError.self) { try Signals.number(of: "SIGNOPE") }
    }

    @Test func criLogLines() {
        let full = LogLine(cri: "2026-11-24T13:00:00.123456789Z stdout F hello world")
        #expect(full == LogLine(cri: "2026-11-24T13:00:00.123456789Z stdout F hello world"))
        #expect(full?.text == "hello world")
        #expect(full?.complete == true)
        let partial = LogLine(cri: "2026-11-24T13:00:00.1Z stderr P abc")
        #expect(partial?.stream == .stderr)
        #expect(partial?.complete == false)
        #expect(LogLine(cri: "2026-11-24T13:00:00.1Z stdout F ")?.text == "")
        #expect(LogLine(cri: "garbage") == nil)
        #expect(LogLine(cri: "ts stdin F x") == nil)
    }
}
