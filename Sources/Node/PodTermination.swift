// Graceful termination of a deleted pod: preStop hooks and SIGTERM, SIGKILL after the grace
// period, the sandbox and everything on disk removed, then the deletion confirmed to the API.
import API
import Client
import Foundation
import Runtime
#if canImport(Glibc)
import Glibc
#endif

extension PodSync {
    /// Graceful termination: SIGTERM to the app containers, SIGKILL after the grace period, then
    /// the sandbox; everything removed (volumes, cgroup) and the deletion confirmed to the API.
    @_optimize(none)   // control loop: the release optimizer (LICM) stalls on it
    func terminate(_ pod: JSONValue, uid: String, name: String, namespace: String, instances: [Instance]) {
        let view = Pod(json: pod)
        let grace = view.metadata.deletionGracePeriodSeconds ?? view.spec.terminationGracePeriodSeconds ?? 30
        let running = instances.filter {
            guard $0.name.container != PodSandbox.containerName, case .running = $0.status else { return false }
            return true
        }
        if !running.isEmpty {
            let began = states[uid].terminationStarted
            let started = began ?? Date()
            if began == nil {
                states.update(uid) { $0.terminationStarted = started }
                let containers = view.spec.containers + view.spec.initContainers
                var sandboxPID: Int32?
                for i in instances where i.name.container == PodSandbox.containerName {
                    if case .running(let pid) = i.status { sandboxPID = pid }
                }
                for i in running {
                    let c = containers.first { $0.name == i.name.container }?.json
                    agent.events.container(pod, c, reason: "Killing", message: "Stopping container \(i.name.container)")
                    stop(i, container: c, pod: pod, sandboxPID: sandboxPID, grace: Double(grace))
                }
            } else if Date().timeIntervalSince(started) >= Double(grace) {
                for i in running { try? runtime.kill(i.record.id, signal: SIGKILL) }
            }
            return
        }
        // CNI DEL while the sandbox's namespace still exists (plugins find their addresses there).
        agent.network.tearDown(uid)
        for i in instances.sorted(by: { a, _ in a.name.container != PodSandbox.containerName }) {
            try? runtime.remove(i.record.id, force: true)
        }
        cleanUpPod(uid: uid)
        states.update(uid) { $0.terminationStarted = nil }
        if StaticPods.isStatic(pod) {
            // Its file is gone: the mirror pod goes with the next mirror sync.
            agent.staticPods?.finished(uid)
            states.update(uid) { $0.reported = nil }
            return
        }
        // Confirm: the pod may now go (grace 0, only this incarnation).
        guard let client = api(), let podType = try? ResourceResolver.resolve("pods") else { return }
        let body: JSONValue = ["kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0, "preconditions": ["uid": .string(uid)]]
        if let r = try? client.request("DELETE", ResourceResolver.path(podType, namespace: namespace, name: name), body: body.serialized()),
           (200..<300).contains(r.code) || r.code == 404 || r.code == 409 {
            agent.pods.remove(pod)
            states.update(uid) { $0.reported = nil }
        }
    }

    /// SIGTERM, after the preStop hook when there is one (on a thread: the hook may take up to the grace period).
    func stop(_ i: Instance, container c: JSONValue?, pod: JSONValue, sandboxPID: Int32?, grace: Double) {
        guard let hook = c?["lifecycle"]?["preStop"], let c, let action = ProbeAction(hook, container: c) else {
            try? runtime.kill(i.record.id, signal: SIGTERM)
            return
        }
        let runtime = self.runtime, agent = self.agent
        Thread.detachNewThread {
            let (ok, message) = action.run(runtime: runtime, containerID: i.record.id, sandboxPID: sandboxPID, timeout: max(1, grace))
            if !ok { agent.events.container(pod, c, type: "Warning", reason: "FailedPreStopHook", message: message) }
            try? runtime.kill(i.record.id, signal: SIGTERM)
        }
    }

    /// Volumes (tmpfs unmounted), the pod directory and the pod cgroup go.
    func cleanUpPod(uid: String) {
        agent.network.tearDown(uid)
        let podDir = agent.options.rootDir + "/pods/" + uid
        do { try PodVolumes.tearDown(podDir: podDir) } catch { agent.log("cleaning up pod \(uid): \(error)") }
        PodSandbox(rootDir: agent.options.rootDir, cgroupRoot: agent.options.cgroupRoot).removeCgroup(uid: uid)
    }
}
