// HostCommand against real child processes (/bin/sh): input, both outputs, exit codes and
// signals, outputs larger than a pipe holds, a child that never reads its input.
import Foundation
import Network
import Testing

@Suite struct HostCommandTests {
    @Test func passesInputAndCollectsBothOutputs() {
        let r = HostCommand.run("/bin/sh", ["-c", "cat; echo oops >&2; exit 3"], input: Array("hello\n".utf8))
        #expect(r.status == 3)
        #expect(r.stdout == "hello\n")
        #expect(r.stderr == "oops\n")
    }

    @Test func outputsLargerThanAPipeDoNotDeadlock() {
        // 1 MiB on each stream, interleaved, and 1 MiB of input echoed back.
        let input = [UInt8](repeating: UInt8(ascii: "x"), count: 1 << 20)
        let r = HostCommand.run("/bin/sh", ["-c", "cat; head -c 1048576 /dev/zero | tr '\\\\0' e >&2"], input: input)
        #expect(r.status == 0)
        #expect(r.stdout.utf8.count == 1 << 20)
        #expect(r.stderr.utf8.count == 1 << 20)
    }

    @Test func aChildThatIgnoresItsInputCostsNothingButItsStatus() {
        let input = [UInt8](repeating: 0, count: 4 << 20)
        let r = HostCommand.run("/bin/sh", ["-c", "exit 0"], input: input)
        #expect(r.status == 0, "EPIPE on our side is not the child's failure, and no SIGPIPE kills us")
    }

    @Test func environmentSignalsAndMissingTools() {
        let env = HostCommand.run("/bin/sh", ["-c", "printf %s \"$CNI_COMMAND\""], environment: ["CNI_COMMAND": "ADD"])
        #expect(env.stdout == "ADD")
        #expect(HostCommand.run("/bin/sh", ["-c", "kill -9 $$"]).status == 128 + 9)
        let missing = HostCommand.run("/nonexistent/tool")
        #expect(missing.status == 127 && missing.stderr.contains("/nonexistent/tool"))
    }

    @Test func theChildGetsNoDescriptorButItsThree() throws {
        let fd = open("/dev/null", O_RDONLY)   // not CLOEXEC
        defer { close(fd) }
        let r = HostCommand.run("/bin/sh", ["-c", "ls /proc/self/fd"])
        let fds = r.stdout.split(separator: "\n").compactMap { Int($0) }.filter { $0 > 2 }
        #expect(fds.count <= 1, "only ls's own directory descriptor beyond 0-2: \(fds)")
    }
}
