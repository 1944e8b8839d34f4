// The controller manager's workers: a controller whose syncs are slow and always fail holds up
// only itself; another controller's keys are reconciled meanwhile, and a controller with several
// workers reconciles keys side by side, never one key twice at once.
import Client
@testable import Controllers
import Foundation
import Synchronization
import Testing

final class ScriptedController: Controller, @unchecked Sendable {
    let name: String
    let queue = WorkQueue()
    let workers: Int
    let delay: Double
    let fails: Bool
    let done = Mutex<[String: Date]>([:])
    let running = Mutex<(now: Set<String>, overlapped: Bool, peak: Int)>((now: [], overlapped: false, peak: 0))

    init(name: String, workers: Int, delay: Double, fails: Bool) {
        self.name = name
        self.workers = workers
        self.delay = delay
        self.fails = fails
    }

    func sync(_ key: String, client: APIClient) throws {
        running.withLock { r in
            if r.now.contains(key) { r.overlapped = true }
            r.now.insert(key)
            r.peak = max(r.peak, r.now.count)
        }
        Thread.sleep(forTimeInterval: delay)
        running.withLock { _ = $0.now.remove(key) }
        done.withLock { $0[key] = Date() }
        if fails { throw ClientError("scripted failure") }
    }
}

@Suite struct ControllerWorkersTests {
    @Test func aSlowFailingControllerDelaysOnlyItself() throws {
        // Nothing listens on this port: the controllers never use their client.
        let server = "http://127.0.0.1:9"
        let slow = ScriptedController(name: "slow", workers: 1, delay: 0.5, fails: true)
        let fast = ScriptedController(name: "fast", workers: 1, delay: 0.001, fails: false)
        for i in 0..<20 { slow.queue.add("ns/s\(i)"); fast.queue.add("ns/f\(i)") }
        let start = Date()
        ControllerManager.startWorkers(slow, server: server, log: { _ in })
        ControllerManager.startWorkers(fast, server: server, log: { _ in })
        #expect(TestEnvWait.until(5) { fast.done.withLock { $0.count } == 20 })
        let fastDone = fast.done.withLock { $0.values.max() } ?? .distantFuture
        #expect(fastDone.timeIntervalSince(start) < 1, "the fast controller finished \(fastDone.timeIntervalSince(start)) s in")
        #expect(slow.done.withLock { $0.count } < 20, "the slow one is still at it")
    }

    @Test func workersShareAQueueWithoutDoubleWork() throws {
        let c = ScriptedController(name: "parallel", workers: 4, delay: 0.05, fails: false)
        for i in 0..<40 { c.queue.add("ns/k\(i % 10)") }   // repeats of 10 keys
        ControllerManager.startWorkers(c, server: "http://127.0.0.1:9", log: { _ in })
        #expect(TestEnvWait.until(5) { c.done.withLock { $0.count } == 10 })
        let r = c.running.withLock { $0 }
        #expect(!r.overlapped, "one key is never synced by two workers at once")
        #expect(r.peak > 1, "keys were synced side by side")
    }
}

enum TestEnvWait {
    static func until(_ seconds: Double, _ check: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if check() { return true }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return false
    }
}
