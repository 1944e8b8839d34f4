// Image pulls off the sync loop: a pull runs on a thread of its own (one per image at a time)
// while its pods wait in ContainerCreating; failures back off 10 s doubling to 5 min
// (ErrImagePull, then ImagePullBackOff), as the kubelet's image manager does.
import API
import Foundation
import Images
import Registry
import Runtime

final class ImagePuller: @unchecked Sendable {
    private enum State {
        case pulling
        case pulled(Date)
        case failed(message: String, at: Date, failures: Int)
    }

    private let lock = NSLock()
    private var states: [String: State] = [:]
    let agent: NodeAgent

    init(agent: NodeAgent) { self.agent = agent }

    /// nil when the image is ready to run; else the container's waiting (reason, message).
    func ensure(_ image: String, policy: String, pod: JSONValue, container c: JSONValue) -> (String, String)? {
        let present = (try? agent.runtime.imageStore.resolve(image)) != nil
        if policy == "Never" {
            return present ? nil : ("ErrImageNeverPull", "Container image \"\(image)\" is not present with pull policy of Never")
        }
        lock.lock()
        let state = states[image]
        lock.unlock()
        switch state {
        case .pulling?:
            return ("ContainerCreating", "pulling image \"\(image)\"")
        case .pulled(let at)?:
            // Always: one pull serves the starts of the next few seconds (a burst of pods).
            if present && (policy != "Always" || Date().timeIntervalSince(at) < 10) { return nil }
        case .failed(let message, let at, let failures)?:
            let delay = min(10 * pow(2, Double(failures - 1)), 300)
            let since = Date().timeIntervalSince(at)
            if since < 2 { return ("ErrImagePull", message) }
            if since < delay { return ("ImagePullBackOff", "Back-off pulling image \"\(image)\": \(message)") }
        case nil:
            if present && policy != "Always" { return nil }
        }
        start(image, pod: pod, container: c)
        return ("ContainerCreating", "pulling image \"\(image)\"")
    }

    private func start(_ image: String, pod: JSONValue, container c: JSONValue) {
        lock.lock()
        var previousFailures = 0
        if case .failed(_, _, let n)? = states[image] { previousFailures = n }
        let failures = previousFailures
        states[image] = .pulling
        lock.unlock()
        agent.events.container(pod, c, reason: "Pulling", message: "Pulling image \"\(image)\"")
        Thread.detachNewThread { [self] in
            let began = Date()
            do {
                let store = try agent.runtime.imageStore
                _ = try Puller(store: store, config: agent.options.registry).pull(image)
                lock.lock(); states[image] = .pulled(Date()); lock.unlock()
                agent.events.container(pod, c, reason: "Pulled",
                                       message: "Successfully pulled image \"\(image)\" in \(Int(Date().timeIntervalSince(began) * 1000))ms")
            } catch {
                lock.lock(); states[image] = .failed(message: "\(error)", at: Date(), failures: failures + 1); lock.unlock()
                agent.events.container(pod, c, type: "Warning", reason: "Failed", message: "Failed to pull image \"\(image)\": \(error)")
            }
            agent.nodeChanged()
        }
    }
}
