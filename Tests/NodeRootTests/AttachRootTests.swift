// attach with stdin, end to end through `skiff master` to `skiff node` and the container's
// monitor: `kubectl run -i --rm` with piped input (stdinOnce) over websocket (1.33) and SPDY
// (1.27), `kubectl attach -i` twice to a `stdin: true` container (stdin stays open between
// attaches), a `tty: true` container attached in a terminal (its size, its own /dev/pts), and
// `attach -i` to a container without stdin (output only, as the kubelet).
import API
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Runs `argv` in a pseudo-terminal of 31 rows × 97 columns; whenever the output so far holds a
/// step's `after` text, types its `type` (steps in order). Returns the exit status and the output.
func runInTerminal(_ argv: [String], steps: [(after: String, type: String)]) throws -> (status: Int32, out: String) {
    let python = ProcessInfo.processInfo.environment["SKIFF_PYTHON"] ?? "/usr/bin/python3"
    let script = """
    import json, os, sys, fcntl, termios, struct, subprocess, select
    steps = json.loads(os.environ["STEPS"])
    m, s = os.openpty()
    fcntl.ioctl(s, termios.TIOCSWINSZ, struct.pack("HHHH", 31, 97, 0, 0))
    p = subprocess.Popen(sys.argv[1:], stdin=s, stdout=s, stderr=s, start_new_session=True)
    os.close(s)
    out, seen = b"", 0
    while True:
        if steps and steps[0][0].encode() in out[seen:]:
            seen = out.index(steps[0][0].encode(), seen) + len(steps[0][0])
            os.write(m, steps.pop(0)[1].encode())
        r, _, _ = select.select([m], [], [], 0.2)
        if r:
            try: d = os.read(m, 4096)
            except OSError: break
            if not d: break
            out += d
        elif p.poll() is not None: break
    p.wait(); sys.stdout.write(out.decode("utf-8", "replace")); sys.exit(p.returncode)
    """
    let steps = try JSONSerialization.data(withJSONObject: steps.map { [$0.after, $0.type] })
    setenv("STEPS", String(decoding: steps, as: UTF8.self), 1)
    let r = try TestEnv.capture([python, "-c", script] + argv)
    return (r.status, r.stdout)
}

/// A `kubectl attach` left running: input written at will, output read until a text shows up.
final class Attached {
    let process = Process()
    private let input = Pipe(), output = Pipe()
    private(set) var text = ""

    init(kubectl: String, server: Int, args: [String]) throws {
        process.executableURL = URL(fileURLWithPath: kubectl)
        process.arguments = ["--kubeconfig", "/dev/null", "-s", "http://127.0.0.1:\(server)", "attach"] + args
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
    }

    func type(_ s: String) { input.fileHandleForWriting.write(Data(s.utf8)) }

    /// Reads output until it contains `expected` or kubectl's output ends; whether it showed up.
    func waitFor(_ expected: String) -> Bool {
        while !text.contains(expected) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { return false }
            text += String(decoding: chunk, as: UTF8.self)
        }
        return true
    }

    func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }
}

extension Cluster {
    /// A pod (restartPolicy Never) whose one container has `stdin: true` and runs `sh -c command`.
    func createStdinPod(_ name: String, tty: Bool = false, command: String) throws {
        try createPod("""
        apiVersion: v1
        kind: Pod
        metadata: {name: \(name)}
        spec:
          nodeName: \(nodeName)
          restartPolicy: Never
          containers:
          - {name: main, image: busybox:test, stdin: true, tty: \(tty), command: ["sh", "-c", \(JSONValue.string(command).jsonString)]}
        """)
        #expect(try eventually { try pod(name)?.value(at: "status.phase") == "Running" })
    }

    /// The exit code of the pod's first container once it terminated.
    func exitCode(_ pod: String, statuses: String = "containerStatuses") throws -> Int64? {
        try self.pod(pod)?["status"]?[statuses]?.arrayValue?.first?["state"]?["terminated"]?["exitCode"]?.intValue
    }
}

@Suite(.serialized, .enabled(if: TestEnv.isRoot, "runs containers"))
struct AttachRootTests {
    @Test(arguments: ["1.33", "1.27"])
    func runInteractiveReadsPipedInputAndDeletesThePod(version: String) throws {
        let c = try Cluster()
        defer { c.stop() }
        let name = TestEnv.uniqueName("run")
        let run = try c.kubectl(version, ["run", "-i", "--rm", "--restart=Never", "--image=busybox:test", name,
                                          "--overrides", #"{"apiVersion":"v1","spec":{"nodeName":"\#(c.nodeName)"}}"#,
                                          "--", "sh", "-c", "read x; echo got $x; cat; echo stdin ended"], stdin: "hello there\nand more\n")
        #expect(run.status == 0, "\(run) \(c.nodeLog.suffix(2000))")
        #expect(run.out.contains("got hello there\nand more\n"), "\(run)")
        // kubectl run -i sets stdinOnce: the end of kubectl's input is the end of the container's.
        #expect(run.out.contains("stdin ended"), "\(run)")
        #expect(try c.eventually { try c.pod(name) == nil }, "--rm deletes the pod")
    }

    @Test(arguments: ["1.33", "1.27"])
    func attachTwiceToAContainerWithStdin(version: String) throws {
        let c = try Cluster()
        defer { c.stop() }
        let name = TestEnv.uniqueName("echo")
        try c.createStdinPod(name, command: "while read line; do echo echo:$line; [ $line = bye ] && exit 7; done; echo stdin ended")
        let kubectl = try TestEnv.kubectl(version)
        // The first attach leaves; without stdinOnce the container's stdin stays open for the next.
        let first = try Attached(kubectl: kubectl, server: c.port, args: ["-i", name])
        first.type("one\n")
        #expect(first.waitFor("echo:one"), "\(first.text) \(c.nodeLog.suffix(2000))")
        first.stop()
        #expect(try c.pod(name)?.value(at: "status.phase") == "Running", "stdin did not end with the first attach")
        let second = try Attached(kubectl: kubectl, server: c.port, args: ["-i", name])
        second.type("two\nbye\n")
        #expect(second.waitFor("echo:bye"), "\(second.text)")
        second.process.waitUntilExit()   // the container exited: the attach ends
        #expect(second.text.contains("echo:two"), "\(second.text)")
        #expect(!second.text.contains("echo:one") && !second.text.contains("stdin ended"), "\(second.text)")
        #expect(try c.eventually { try c.exitCode(name) == 7 })
    }

    @Test(arguments: ["1.33", "1.27"])
    func attachToATerminalSetsItsSize(version: String) throws {
        let c = try Cluster()
        defer { c.stop() }
        let name = TestEnv.uniqueName("tty")
        try c.createStdinPod(name, tty: true, command: "read a; echo got:$a; read b; stty size; tty; echo TERM=$TERM; exit 3")
        let attached = try runInTerminal([try TestEnv.kubectl(version), "--kubeconfig", "/dev/null", "-s", "http://127.0.0.1:\(c.port)",
                                          "attach", "-it", name],
                                         steps: [("If you don't see a command prompt", "first\r"), ("got:first", "second\r")])
        #expect(attached.out.contains("got:first"), "\(attached) \(c.nodeLog.suffix(2000))")
        #expect(attached.out.contains("31 97"), "the terminal's size: \(attached.out)")
        #expect(attached.out.contains("/dev/pts/0"), "its own devpts: \(attached.out)")
        #expect(attached.out.contains("TERM=xterm"), "\(attached.out)")
        #expect(try c.eventually { try c.exitCode(name) == 3 })
        // The terminal's output is the container's log too (one stream: stdout).
        let logs = try c.kubectl(version, ["logs", name])
        #expect(logs.out.contains("got:first"), "\(logs)")
    }

    @Test func attachWithInputToAContainerWithoutStdinGetsOutputOnly() throws {
        let c = try Cluster()
        defer { c.stop() }
        let name = TestEnv.uniqueName("ticker")
        try c.createPod("""
        apiVersion: v1
        kind: Pod
        metadata: {name: \(name)}
        spec:
          nodeName: \(c.nodeName)
          containers:
          - {name: main, image: busybox:test, command: ["sh", "-c", "while true; do echo tick; sleep 0.3; done"]}
        """)
        #expect(try c.eventually { try c.pod(name)?.value(at: "status.phase") == "Running" })
        let attached = try Attached(kubectl: try TestEnv.kubectl("1.33"), server: c.port, args: ["-i", name])
        attached.type("ignored\n")
        #expect(attached.waitFor("tick\ntick\n"), "\(attached.text) \(c.nodeLog.suffix(2000))")
        attached.stop()
        #expect(try c.pod(name)?.value(at: "status.phase") == "Running")
    }
}
