// Probes, lifecycle hooks and events on a real node: readiness flips the pod's Ready condition,
// a failing liveness probe restarts the container, httpGet/tcpSocket probes reach the pod's
// own network namespace, postStart runs before the container counts as started, preStop
// before SIGTERM.
import API
import Client
import Foundation
import Testing
import TestSupport

extension Cluster {
    func condition(_ pod: String, _ type: String) throws -> String? {
        try self.pod(pod)?["status"]?["conditions"]?.arrayValue?.first { $0["type"]?.stringValue == type }?["status"]?.stringValue
    }

    func eventReasons(_ pod: String) throws -> [String] {
        let list = try api.get("/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3D\(pod)").json()
        return (list["items"]?.arrayValue ?? []).compactMap { $0["reason"]?.stringValue }
    }
}

@Suite(.serialized, .enabled(if: TestEnv.isRoot, "runs containers"))
struct ProbeRootTests {
    @Test func probesHooksAndEvents() throws {
        let c = try Cluster()
        defer { c.stop() }
        let hostDir = c.dir + "/hooks"
        try FileManager.default.createDirectory(atPath: hostDir, withIntermediateDirectories: true)
        try c.createPod("""
        apiVersion: v1
        kind: Pod
        metadata: {name: probed}
        spec:
          nodeName: \(c.nodeName)
          terminationGracePeriodSeconds: 5
          volumes: [{name: out, hostPath: {path: \(hostDir)}}]
          containers:
          - name: web
            image: busybox:test
            ports: [{name: http, containerPort: 8080}]
            command: ["sh", "-c", "mkdir -p /www; echo ok > /www/index.html; httpd -f -p 8080 -h /www"]
            readinessProbe: {httpGet: {path: /index.html, port: http}, periodSeconds: 1}
            livenessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
          - name: flag
            image: busybox:test
            volumeMounts: [{name: out, mountPath: /out}]
            command: ["sh", "-c", "sleep 2; touch /tmp/ready; cat /tmp/hook > /out/seen-by-main; trap 'exit 0' TERM; while true; do sleep 0.1; done"]
            readinessProbe: {exec: {command: [cat, /tmp/ready]}, periodSeconds: 1, failureThreshold: 1}
            lifecycle:
              postStart: {exec: {command: [sh, -c, "echo from-post-start > /tmp/hook"]}}
              preStop: {exec: {command: [sh, -c, "echo pre-stop-ran > /out/prestop"]}}
        """)
        #expect(try c.eventually { try c.pod("probed")?.value(at: "status.phase") == "Running" }, "\(c.nodeLog)")
        // Not ready before the flag file exists (the exec probe fails), then ready.
        #expect(try c.condition("probed", "Ready") == "False")
        #expect(try c.eventually(15) { try c.condition("probed", "Ready") == "True" }, "\((try? c.pod("probed"))??.jsonString ?? "")")
        let web = try c.status("probed", "web")
        #expect(web?["ready"] == true && web?["started"] == true,
                "httpGet readiness reached the pod's network namespace: \((try? c.api.get("/api/v1/namespaces/default/events").text) ?? "")")
        // The readiness probe failing again makes the pod unready.
        _ = try c.kubectl(["exec", "probed", "-c", "flag", "--", "rm", "/tmp/ready"])
        #expect(try c.eventually(10) { try c.condition("probed", "Ready") == "False" })
        #expect(try c.status("probed", "flag")?["ready"] == false)
        #expect(try c.status("probed", "web")?["ready"] == true)
        // postStart ran inside the container before the main command read its file.
        #expect((try? String(contentsOfFile: hostDir + "/seen-by-main", encoding: .utf8)) == "from-post-start\n")

        // A liveness probe that starts failing: the container is killed and restarted.
        try c.createPod("""
        apiVersion: v1
        kind: Pod
        metadata: {name: dying}
        spec:
          nodeName: \(c.nodeName)
          terminationGracePeriodSeconds: 1
          containers:
          - name: c
            image: busybox:test
            command: ["sh", "-c", "touch /tmp/alive; sleep 2; rm /tmp/alive; sleep 1000"]
            livenessProbe: {exec: {command: [test, -f, /tmp/alive]}, periodSeconds: 1, failureThreshold: 2}
        """)
        #expect(try c.eventually(30) { (try c.status("dying", "c")?["restartCount"]?.intValue ?? 0) >= 1 }, "\(c.nodeLog)")
        #expect(try c.status("dying", "c")?.value(at: "lastState.terminated.exitCode") == 137)
        #expect(try c.eventually(5) { try c.eventReasons("dying").contains("Unhealthy") })
        #expect(try c.eventReasons("dying").contains("Killing"))

        // Events of a normal start.
        let reasons = try c.eventReasons("probed")
        for r in ["Created", "Started"] { #expect(reasons.contains(r), "\(reasons)") }

        // preStop runs before SIGTERM.
        _ = try c.api.request("DELETE", "/api/v1/namespaces/default/pods/probed")
        #expect(try c.eventually(20) { try c.pod("probed") == nil })
        #expect((try? String(contentsOfFile: hostDir + "/prestop", encoding: .utf8)) == "pre-stop-ran\n")
        _ = try c.api.request("DELETE", "/api/v1/namespaces/default/pods/dying")
        #expect(try c.eventually(20) { try c.containers().isEmpty })
    }
}
