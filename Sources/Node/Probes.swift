// Container probes and lifecycle hooks, as the kubelet runs them: exec (a process in the
// container, exit 0 = success), httpGet (2xx/3xx) and tcpSocket (connect). Network checks run
// inside the pod's network namespace: the probing thread enters it (setns is per thread) only
// to create its socket, then returns, so nothing else of the agent changes namespace.
import API
import CLinux
import Foundation
import Runtime
#if canImport(Glibc)
import Glibc
#endif

/// One probe or hook action of the pod spec.
struct ProbeAction {
    enum Kind { case exec([String]), http(port: Int, path: String, host: String?, headers: [(String, String)]), tcp(port: Int, host: String?) }
    let kind: Kind

    /// nil when the action has no handler we know (the spec's validation should have refused it).
    init?(_ spec: JSONValue, container: JSONValue) {
        if let command = spec["exec"]?["command"]?.arrayValue?.compactMap(\.stringValue) {
            kind = .exec(command)
        } else if let http = spec["httpGet"] {
            guard let port = Self.port(http["port"], container: container) else { return nil }
            let headers = (http["httpHeaders"]?.arrayValue ?? []).compactMap { h -> (String, String)? in
                guard let n = h["name"]?.stringValue else { return nil }
                return (n, h["value"]?.stringValue ?? "")
            }
            kind = .http(port: port, path: http["path"]?.stringValue ?? "/", host: http["host"]?.stringValue, headers: headers)
        } else if let tcp = spec["tcpSocket"] {
            guard let port = Self.port(tcp["port"], container: container) else { return nil }
            kind = .tcp(port: port, host: tcp["host"]?.stringValue)
        } else {
            return nil
        }
    }

    /// A port number, or a named containerPort.
    static func port(_ v: JSONValue?, container: JSONValue) -> Int? {
        if let n = v?.intValue { return Int(n) }
        guard let name = v?.stringValue else { return nil }
        if let n = Int(name) { return n }
        let p = (container["ports"]?.arrayValue ?? []).first { $0["name"]?.stringValue == name }
        return p?["containerPort"]?.intValue.map { Int($0) }
    }

    /// Runs the action once; (success, message for events).
    func run(runtime: ContainerRuntime, containerID: String, sandboxPID: Int32?, timeout: Double) -> (Bool, String) {
        switch kind {
        case .exec(let command):
            return Self.exec(runtime: runtime, containerID: containerID, command: command, timeout: timeout)
        case .http(let port, let path, let host, let headers):
            return Self.http(host: host ?? "127.0.0.1", port: port, path: path, headers: headers, netnsPID: host == nil ? sandboxPID : nil, timeout: timeout)
        case .tcp(let port, let host):
            let fd = Self.connect(host: host ?? "127.0.0.1", port: port, netnsPID: host == nil ? sandboxPID : nil, timeout: timeout)
            guard fd >= 0 else { return (false, "dial tcp \(host ?? "127.0.0.1"):\(port): connect: \(String(cString: strerror(-fd)))") }
            close(fd)
            return (true, "")
        }
    }

    static func exec(runtime: ContainerRuntime, containerID: String, command: [String], timeout: Double) -> (Bool, String) {
        let process: ExecProcess
        do { process = try runtime.exec(containerID, command: command, tty: false) } catch { return (false, "\(error)") }
        close(process.stdin)
        // Collect a little output for the event message; the deadline kills a hung probe.
        var output: [UInt8] = []
        let deadline = Date().addingTimeInterval(timeout)
        var fds = [pollfd(fd: process.stdout, events: Int16(POLLIN), revents: 0), pollfd(fd: process.stderr, events: Int16(POLLIN), revents: 0)]
        var open = 2
        var timedOut = false
        var buf = [UInt8](repeating: 0, count: 4096)
        while open > 0 {
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { timedOut = true; break }
            let rc = poll(&fds, 2, Int32(left * 1000) + 1)
            if rc < 0 { if errno == EINTR { continue }; break }
            for i in 0..<2 where fds[i].fd >= 0 && fds[i].revents != 0 {
                let n = buf.withUnsafeMutableBytes { read(fds[i].fd, $0.baseAddress, $0.count) }
                if n > 0 { if output.count < 1024 { output += buf[0..<n] } } else { fds[i].fd = -1; open -= 1 }
            }
        }
        if timedOut { kill(process.pid, SIGKILL) }
        let code = process.wait()
        close(process.stdout); close(process.stderr)
        let text = String(decoding: output.prefix(1024), as: UTF8.self)
        if timedOut { return (false, "command \(command) timed out after \(timeout)s") }
        return (code == 0, code == 0 ? text : "command \(command) exited with \(code): \(text)")
    }

    /// A TCP connection to host:port made inside the pod's network namespace (netnsPID's);
    /// returns the fd, or -errno.
    static func connect(host: String, port: Int, netnsPID: Int32?, timeout: Double) -> Int32 {
        var fd: Int32 = -1
        if let pid = netnsPID {
            let own = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
            let target = open("/proc/\(pid)/ns/net", O_RDONLY | O_CLOEXEC)
            defer { if own >= 0 { close(own) }; if target >= 0 { close(target) } }
            guard own >= 0, target >= 0, skiff_setns_net(target) == 0 else { return -errno }
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            let saved = errno
            // Back to the host's namespace before anything else runs on this thread; should that
            // ever fail, the thread ends here rather than go on in the pod's namespace.
            if skiff_setns_net(own) != 0 { if fd >= 0 { close(fd) }; close(own); close(target); pthread_exit(nil) }
            if fd < 0 { return -saved }
        } else {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if fd < 0 { return -errno }
        }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else { close(fd); return -EINVAL }
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        if rc != 0 { let e = errno; close(fd); return -e }
        return fd
    }

    static func http(host: String, port: Int, path: String, headers: [(String, String)], netnsPID: Int32?, timeout: Double) -> (Bool, String) {
        let fd = connect(host: host, port: port, netnsPID: netnsPID, timeout: timeout)
        guard fd >= 0 else { return (false, "Get \"http://\(host):\(port)\(path)\": dial tcp: \(String(cString: strerror(-fd)))") }
        defer { close(fd) }
        var request = "GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nUser-Agent: kube-probe/1.31\r\nAccept: */*\r\nConnection: close\r\n"
        for (n, v) in headers { request += "\(n): \(v)\r\n" }
        request += "\r\n"
        let bytes = Array(request.utf8)
        guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else {
            return (false, "sending the request: \(String(cString: strerror(errno)))")
        }
        var response: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 1024)
        while !response.contains(0x0a) && response.count < 4096 {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            response += buf[0..<n]
        }
        let statusLine = String(decoding: response.prefix { $0 != 0x0d && $0 != 0x0a }, as: UTF8.self)
        let fields = statusLine.split(separator: " ")
        guard fields.count >= 2, let code = Int(fields[1]) else { return (false, "no HTTP response from \(host):\(port)\(path)") }
        return ((200..<400).contains(code), "HTTP probe failed with statuscode: \(code)")
    }
}

/// A probe's timing (the kubelet's defaults when unset).
struct ProbeTiming {
    var initialDelay: Double, period: Double, timeout: Double
    var successThreshold: Int, failureThreshold: Int

    init(_ p: JSONValue) {
        initialDelay = Double(p["initialDelaySeconds"]?.intValue ?? 0)
        period = Double(max(1, p["periodSeconds"]?.intValue ?? 10))
        timeout = Double(max(1, p["timeoutSeconds"]?.intValue ?? 1))
        successThreshold = Int(max(1, p["successThreshold"]?.intValue ?? 1))
        failureThreshold = Int(max(1, p["failureThreshold"]?.intValue ?? 3))
    }
}

/// Probe results per container (by runtime id), fed by one thread per running container with
/// probes; the sync loop reads them (ready, started, liveness failed) and stops the workers
/// of containers that are gone.
final class ProbeManager: @unchecked Sendable {
    struct State {
        var started = false      // startup probe passed (or none)
        var ready = false        // readiness probe passing (or none, once started)
        var unhealthy: String?   // liveness or startup probe failed: why (the container is killed)
        var stop = false
    }

    private let lock = NSLock()
    private var states: [String: State] = [:]
    let agent: NodeAgent

    init(agent: NodeAgent) { self.agent = agent }

    func state(_ id: String) -> State? { lock.lock(); defer { lock.unlock() }; return states[id] }

    private func update(_ id: String, _ change: (inout State) -> Void) -> State? {
        lock.lock(); defer { lock.unlock() }
        guard var s = states[id] else { return nil }
        change(&s)
        states[id] = s
        return s
    }

    /// Starts probing a container (once per runtime id); a fresh start runs its postStart hook
    /// first (the container counts as started once the hook succeeded).
    func track(containerID: String, container c: JSONValue, pod: JSONValue, sandboxPID: Int32?, startedAt: Date, fresh: Bool) {
        lock.lock()
        if states[containerID] != nil { lock.unlock(); return }
        let startup = c["startupProbe"], liveness = c["livenessProbe"], readiness = c["readinessProbe"]
        let postStart = fresh ? c["lifecycle"]?["postStart"] : nil
        states[containerID] = State(started: startup == nil && postStart == nil, ready: readiness == nil && startup == nil && postStart == nil)
        lock.unlock()
        guard startup != nil || liveness != nil || readiness != nil || postStart != nil else { return }
        Thread.detachNewThread { [self] in
            if let postStart, let action = ProbeAction(postStart, container: c) {
                let (ok, message) = action.run(runtime: agent.runtime, containerID: containerID, sandboxPID: sandboxPID, timeout: 30)
                if !ok {
                    agent.events.container(pod, c, type: "Warning", reason: "FailedPostStartHook", message: message)
                    _ = update(containerID) { $0.unhealthy = "PostStartHook failed: \(message)" }
                    agent.nodeChanged()
                    return
                }
                _ = update(containerID) { s in
                    if startup == nil { s.started = true; if readiness == nil { s.ready = true } }
                }
                agent.nodeChanged()
            }
            run(containerID, container: c, pod: pod, sandboxPID: sandboxPID, startedAt: startedAt,
                startup: startup, liveness: liveness, readiness: readiness)
        }
    }

    func forget(except live: Set<String>) {
        lock.lock()
        for id in states.keys where !live.contains(id) { states[id]?.stop = true; states[id] = nil }
        lock.unlock()
    }

    @_optimize(none)   // control loop: the release optimizer (LICM) stalls on it
    private func run(_ id: String, container c: JSONValue, pod: JSONValue, sandboxPID: Int32?, startedAt: Date,
                     startup: JSONValue?, liveness: JSONValue?, readiness: JSONValue?) {
        struct Probe { let kind: String; let action: ProbeAction; let timing: ProbeTiming; var next: Date; var successes = 0; var failures = 0 }
        var probes: [Probe] = []
        for (kind, spec) in [("startup", startup), ("liveness", liveness), ("readiness", readiness)] {
            guard let spec, let action = ProbeAction(spec, container: c) else { continue }
            let timing = ProbeTiming(spec)
            probes.append(Probe(kind: kind, action: action, timing: timing, next: startedAt.addingTimeInterval(timing.initialDelay)))
        }
        if probes.isEmpty { return }
        while true {
            guard let current = state(id), !current.stop, current.unhealthy == nil else { return }
            let now = Date()
            var soonest = now.addingTimeInterval(1)
            for i in probes.indices {
                // Liveness and readiness wait for the startup probe.
                if probes[i].kind != "startup" && !current.started { continue }
                if probes[i].kind == "startup" && current.started { continue }
                if probes[i].next > now { soonest = min(soonest, probes[i].next); continue }
                let (ok, message) = probes[i].action.run(runtime: agent.runtime, containerID: id, sandboxPID: sandboxPID, timeout: probes[i].timing.timeout)
                probes[i].next = Date().addingTimeInterval(probes[i].timing.period)
                soonest = min(soonest, probes[i].next)
                if ok { probes[i].successes += 1; probes[i].failures = 0 } else { probes[i].failures += 1; probes[i].successes = 0 }
                if !ok { agent.events.container(pod, c, type: "Warning", reason: "Unhealthy", message: "\(probes[i].kind.capitalized) probe failed: \(message)") }
                let p = probes[i]
                var changed = false
                _ = update(id) { s in
                    switch p.kind {
                    case "startup":
                        if p.successes >= 1 && !s.started { s.started = true; changed = true; if readiness == nil { s.ready = true } }
                        if p.failures >= p.timing.failureThreshold { s.unhealthy = "startup probe failed"; changed = true }
                    case "liveness":
                        if p.failures >= p.timing.failureThreshold { s.unhealthy = "liveness probe failed"; changed = true }
                    default:
                        if p.successes >= p.timing.successThreshold && !s.ready { s.ready = true; changed = true }
                        if p.failures >= p.timing.failureThreshold && s.ready { s.ready = false; changed = true }
                    }
                }
                if changed { agent.nodeChanged() }
            }
            let wait = soonest.timeIntervalSinceNow
            if wait > 0 { Thread.sleep(forTimeInterval: min(wait, 1)) }
        }
    }
}
