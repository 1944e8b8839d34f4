// From inside an ordinary (non-privileged) pod, the classic container escapes all fail: mounting,
// loading a kernel module, reading a raw disk or /dev/mem through a node made with mknod,
// writing /proc/sys, reaching host files or processes through /proc, ptrace-grade capabilities,
// new namespaces, the kernel keyring. The pod prints a line for each escape that works; only
// "done" may come out.
import API
import Foundation
import Testing
import TestSupport

@Suite(.serialized, .enabled(if: TestEnv.isRoot, "runs containers"))
struct EscapeProbeRootTests {
    @Test func escapesFailFromAnOrdinaryPod() throws {
        let c = try Cluster()
        defer { c.stop() }
        // The host's root disk, as a node would see it (its device numbers).
        var st = stat()
        let rootDevice = stat("/", &st) == 0 ? (major: (st.st_dev >> 8) & 0xfff, minor: (st.st_dev & 0xff) | ((st.st_dev >> 12) & 0xfff00)) : (major: 8, minor: 0)
        let script = [
            "mount -t tmpfs none /mnt 2>/dev/null && echo ESCAPE-mount",
            "mount --bind / /mnt 2>/dev/null && echo ESCAPE-bind-mount",
            "echo x > /tmp/m.ko; insmod /tmp/m.ko 2>&1 | grep -qv 'not permitted' && echo ESCAPE-module",
            "mknod /tmp/disk b \(rootDevice.major) \(rootDevice.minor) 2>/dev/null; head -c 512 /tmp/disk 2>/dev/null | grep -q . && echo ESCAPE-raw-disk",
            "mknod /tmp/mem c 1 1 2>/dev/null; head -c 1 /tmp/mem 2>/dev/null | grep -q . && echo ESCAPE-dev-mem",
            "{ echo skiff > /proc/sys/kernel/hostname; } 2>/dev/null && echo ESCAPE-proc-sys",
            "{ echo h > /proc/sysrq-trigger; } 2>/dev/null && echo ESCAPE-sysrq",
            "cat /proc/kcore 2>/dev/null | head -c1 | grep -q . && echo ESCAPE-kcore",
            "[ $(ls /proc | grep -c '^[0-9]') -gt 10 ] && echo ESCAPE-host-processes",
            "grep -q skiff-host-marker /proc/1/root/etc/skiff-host-marker 2>/dev/null && echo ESCAPE-host-files",
            "grep CapEff /proc/self/status | awk '{print $2}' | { read caps; [ $(( 0x$caps & (1 << 19 | 1 << 21 | 1 << 16 | 1 << 17) )) -ne 0 ] && echo ESCAPE-caps; }",
            "grep -q 'NoNewPrivs:.0' /proc/self/status; unshare -U true 2>/dev/null && echo ESCAPE-userns",
            "unshare -m true 2>/dev/null && echo ESCAPE-mountns",
            "touch /sys/kernel/x 2>/dev/null && echo ESCAPE-sysfs",
            "echo done",
        ].joined(separator: "\n")
        // A file only on the host: the pod must not find it.
        try "skiff-host-marker\n".write(toFile: "/etc/skiff-host-marker", atomically: true, encoding: .utf8)
        defer { unlink("/etc/skiff-host-marker") }
        let pod: JSONValue = [
            "apiVersion": "v1", "kind": "Pod", "metadata": ["name": "probe"],
            "spec": ["nodeName": .string(c.nodeName), "restartPolicy": "Never",
                     "containers": [["name": "probe", "image": "busybox:test", "command": ["sh", "-c", .string(script)]]]],
        ]
        try c.createPod(pod.jsonString)
        #expect(try c.eventually(60) { try c.pod("probe")?.value(at: "status.phase") == "Succeeded" }, "\(c.nodeLog.suffix(1500))")
        let logs = try c.api.get("/api/v1/namespaces/default/pods/probe/log").text
        #expect(logs == "done\n", "escapes that worked: \(logs)")
        // The probes do detect escapes: a privileged pod gets through several.
        var privileged = pod
        privileged["metadata"]?["name"] = "privileged-probe"
        privileged["spec"]?["containers"] = [["name": "probe", "image": "busybox:test", "command": ["sh", "-c", .string(script)],
                                              "securityContext": ["privileged": true]]]
        try c.createPod(privileged.jsonString)
        #expect(try c.eventually(60) { try c.pod("privileged-probe")?.value(at: "status.phase") == "Succeeded" })
        let open = try c.api.get("/api/v1/namespaces/default/pods/privileged-probe/log").text
        #expect(open.contains("ESCAPE-mount") && open.contains("ESCAPE-caps") && open.contains("ESCAPE-proc-sys"), "\(open)")
    }
}
