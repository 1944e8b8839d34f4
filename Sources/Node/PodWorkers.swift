// Per-pod workers, like the kubelet's: each pod's sync runs on one of a few threads, never two at
// once for the same pod, so a pod waiting on CNI plugins, an image or its container's start does
// not hold up the others. The sync loop is the only one that submits work.
import API
import Foundation

final class PodWorkers: @unchecked Sendable {
    private let lock = NSLock()
    /// Pods whose sync is queued or running.
    private var busy = Set<String>()
    /// Busy pods the loop passed over: when their sync ends the loop runs again for them.
    private var skipped = Set<String>()
    private var queue: [(uid: String, work: () -> Void)] = []
    private var next = 0
    private let queued = DispatchSemaphore(value: 0)
    private let wake: @Sendable () -> Void

    init(threads: Int, wake: @escaping @Sendable () -> Void) {
        self.wake = wake
        for _ in 0..<max(1, threads) { Thread.detachNewThread { self.run() } }
    }

    /// The pods with a sync queued or running. Read before the runtime is listed: a pod not in
    /// it has no sync that could change its containers behind that list.
    func inFlight() -> Set<String> { lock.lock(); defer { lock.unlock() }; return busy }

    /// Queues a pod's sync (one not in flight when inFlight() was read).
    func submit(_ uid: String, _ work: @escaping () -> Void) {
        lock.lock()
        guard busy.insert(uid).inserted else { skipped.insert(uid); lock.unlock(); return }
        queue.append((uid, work))
        lock.unlock()
        queued.signal()
    }

    /// A pod in flight when the loop listed the runtime is passed over; the loop runs again once
    /// its sync has ended (at once if it already has), with a fresh view of its containers.
    func passOver(_ uid: String) {
        lock.lock()
        let running = busy.contains(uid)
        if running { skipped.insert(uid) }
        lock.unlock()
        if !running { wake() }
    }

    @_optimize(none)   // control loop: the release optimizer (LICM) stalls on it
    private func run() {
        while true {
            queued.wait()
            lock.lock()
            let item = queue[next]
            next += 1
            if next > 64 && next * 2 > queue.count { queue.removeFirst(next); next = 0 }
            lock.unlock()
            item.work()
            lock.lock()
            busy.remove(item.uid)
            let again = skipped.remove(item.uid) != nil
            lock.unlock()
            if again { wake() }
        }
    }
}

/// What the agent keeps about each pod between its syncs.
struct PodState {
    /// The last status written: only changes are sent.
    var reported: JSONValue?
    /// When the running pod's ConfigMap, Secret and downward API volumes were last written.
    var volumesWritten: Date?
    /// The labels and annotations its downward API files were last written from.
    var downwardWritten: PodSync.DownwardSource?
    /// When the terminating pod's containers got SIGTERM.
    var terminationStarted: Date?
    /// Claim volumes' host paths once mounted (ClaimVolumes); the last failure otherwise.
    var mountedClaims: [String: String]?
    var claimMountFailure: (at: Date, message: String, claimsBound: Int)?
    /// What the pod's last sync was started from (PodSync.fingerprint), and when; the object's version then.
    var syncedFrom: Int?
    var syncedAt: Date?
    var syncedVersion: String?
    /// When this agent first synced the pod, and whether its start (Running) was timed (kubelet_pod_start_duration_seconds).
    var firstSeen: Date?
    var startTimed = false
    /// A finished pod whose sandbox was stopped and address released: nothing more to do until it is deleted.
    var released = false
    /// Released, and a pass found none of its containers running: passes skip it and its
    /// containers until it is deleted.
    var settled = false
}

/// Every pod's PodState by uid. Workers of different pods use it at once; a pod's entry is only
/// written by the worker syncing that pod (and dropped by the loop once the pod is gone).
final class PodStates: @unchecked Sendable {
    private let lock = NSLock()
    private var byUID: [String: PodState] = [:]

    subscript(uid: String) -> PodState { lock.lock(); defer { lock.unlock() }; return byUID[uid] ?? PodState() }

    func update(_ uid: String, _ change: (inout PodState) -> Void) {
        lock.lock(); defer { lock.unlock() }
        change(&byUID[uid, default: PodState()])
    }

    /// Drops the pods `keep` says no to; returns their uids.
    func retain(_ keep: (String) -> Bool) -> [String] {
        lock.lock(); defer { lock.unlock() }
        let gone = byUID.keys.filter { !keep($0) }
        for uid in gone { byUID[uid] = nil }
        return gone
    }
}
