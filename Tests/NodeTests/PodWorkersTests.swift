// The node agent's pod workers and per-pod state (logic only: the root suites run them for real).
import API
import Foundation
@testable import Network
@testable import Node
import Synchronization
import Testing

@Suite struct PodWorkersTests {
    final class Wakes: Sendable {
        let count = Mutex(0)
        let signal = DispatchSemaphore(value: 0)
        func wake() { count.withLock { $0 += 1 }; signal.signal() }
        var value: Int { count.withLock { $0 } }
    }

    @Test func differentPodsSyncAtOnce() {
        let workers = PodWorkers(threads: 4) {}
        let started = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        for i in 0..<4 {
            workers.submit("pod-\(i)") { started.signal(); release.wait() }
        }
        // All four are running together: none finishes before every one has started.
        for _ in 0..<4 { #expect(started.wait(timeout: .now() + 5) == .success) }
        #expect(workers.inFlight() == Set((0..<4).map { "pod-\($0)" }))
        for _ in 0..<4 { release.signal() }
        for _ in 0..<100 where !workers.inFlight().isEmpty { Thread.sleep(forTimeInterval: 0.01) }
        #expect(workers.inFlight().isEmpty)
    }

    @Test func aPodPassedOverWhileBusyWakesTheLoopOnceItsSyncEnds() {
        let wakes = Wakes()
        let workers = PodWorkers(threads: 2) { wakes.wake() }
        let started = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        workers.submit("a") { started.signal(); release.wait() }
        #expect(started.wait(timeout: .now() + 5) == .success)
        workers.passOver("a")
        workers.passOver("a")
        #expect(wakes.value == 0)
        release.signal()
        #expect(wakes.signal.wait(timeout: .now() + 5) == .success)
        Thread.sleep(forTimeInterval: 0.05)
        #expect(wakes.value == 1)   // (once, however often it was passed over)
        #expect(workers.inFlight().isEmpty)
    }

    @Test func aPodWhoseSyncEndedBeforeItWasPassedOverWakesTheLoopAtOnce() {
        let wakes = Wakes()
        let workers = PodWorkers(threads: 1) { wakes.wake() }
        workers.passOver("done")
        #expect(wakes.signal.wait(timeout: .now() + 5) == .success)
    }

    @Test func podStatesKeepOnlyWhatIsRetained() {
        let states = PodStates()
        states.update("uid-1") { $0.released = true }
        states.update("uid-2") { $0.reported = ["phase": "Running"] }
        #expect(states["uid-1"].released)
        #expect(!states["uid-3"].released)
        let gone = states.retain { $0 == "uid-2" }
        #expect(gone == ["uid-1"])
        #expect(!states["uid-1"].released)
        #expect(states["uid-2"].reported?["phase"]?.stringValue == "Running")
    }

    @Test func portmapRunsOnlyForPodsWithPortMappings() {
        let list: JSONValue = ["cniVersion": "1.0.0", "name": "net", "plugins": [
            ["type": "bridge", "bridge": "br0"], ["type": "portmap", "capabilities": ["portMappings": true]]]]
        let cni = CNIRuntime(binDirs: [])
        #expect(cni.pluginConfigs(list, runtimeConfig: nil).compactMap { $0["type"]?.stringValue } == ["bridge"])
        let mapped: JSONValue = ["portMappings": [["hostPort": 8080, "containerPort": 80, "protocol": "tcp"]]]
        let configs = cni.pluginConfigs(list, runtimeConfig: mapped)
        #expect(configs.compactMap { $0["type"]?.stringValue } == ["bridge", "portmap"])
        #expect(configs.last?["runtimeConfig"]?["portMappings"]?.arrayValue?.count == 1)
        #expect(configs.first?["name"]?.stringValue == "net")
    }
}
