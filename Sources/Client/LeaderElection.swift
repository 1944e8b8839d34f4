// Leader election through a coordination.k8s.io Lease, as client-go's leaderelection does: the
// holder renews spec.renewTime every retry period; anyone may take the lease once it has not
// been renewed for leaseDurationSeconds. Writes carry the resourceVersion they read, so two
// candidates never both win. A leader that cannot renew before the deadline steps down.
import API
import Foundation

public final class LeaderElector: @unchecked Sendable {
    let server: String
    let namespace: String
    public let name: String
    public let identity: String
    let leaseDuration: Double
    let renewDeadline: Double
    let retryPeriod: Double

    public init(server: String, namespace: String = "kube-system", name: String, identity: String,
                leaseDuration: Double = 15, renewDeadline: Double = 10, retryPeriod: Double = 2) {
        self.server = server; self.namespace = namespace; self.name = name; self.identity = identity
        self.leaseDuration = leaseDuration; self.renewDeadline = min(renewDeadline, leaseDuration); self.retryPeriod = retryPeriod
    }

    var path: String { "/apis/coordination.k8s.io/v1/namespaces/\(namespace)/leases/\(name)" }

    /// Blocks until this process holds the lease; then renews it on a thread of its own and calls
    /// `onLost` if it could not for renewDeadline.
    public func acquire(onLost: @escaping @Sendable () -> Void) {
        var client: APIClient?
        while true {
            if client == nil { client = try? APIClient(server: server) }
            if let c = client, (try? tryAcquireOrRenew(c)) == true { break }
            if (try? client?.get("/healthz")) == nil { client = nil }
            Thread.sleep(forTimeInterval: retryPeriod)
        }
        Thread.detachNewThread { [self] in
            var client = try? APIClient(server: server)
            var lastRenew = Date()
            while true {
                Thread.sleep(forTimeInterval: retryPeriod)
                if client == nil { client = try? APIClient(server: server) }
                if let c = client, (try? tryAcquireOrRenew(c)) == true {
                    lastRenew = Date()
                } else {
                    client = nil
                    if Date().timeIntervalSince(lastRenew) > renewDeadline { onLost(); return }
                }
            }
        }
    }

    /// One attempt: true when we hold the lease afterwards.
    func tryAcquireOrRenew(_ c: APIClient) throws -> Bool {
        let now = Date()
        let r = try c.get(path)
        if r.code == 404 {
            var lease = Lease.new(namespace: namespace, name: name)
            lease.spec.holderIdentity = identity
            lease.spec.leaseDurationSeconds = Int64(leaseDuration)
            lease.spec.acquireTime = now
            lease.spec.renewTime = now
            lease.spec.leaseTransitions = 0
            return try c.request("POST", "/apis/coordination.k8s.io/v1/namespaces/\(namespace)/leases", body: lease.json.serialized()).code == 201
        }
        guard r.code == 200 else { return false }
        var lease = Lease(json: try r.json())
        let holder = lease.spec.holderIdentity ?? ""
        let duration = Double(lease.spec.leaseDurationSeconds ?? Int64(leaseDuration))
        let renewed = lease.spec.renewTime ?? .distantPast
        if holder != identity && !holder.isEmpty && now.timeIntervalSince(renewed) < duration { return false }
        if holder != identity {
            lease.spec.acquireTime = now
            lease.spec.leaseTransitions = (lease.spec.leaseTransitions ?? 0) + 1
        }
        lease.spec.holderIdentity = identity
        lease.spec.leaseDurationSeconds = Int64(leaseDuration)
        lease.spec.renewTime = now
        // resourceVersion stays: a concurrent writer makes this a 409, and we lost the race.
        return try c.request("PUT", path, body: lease.json.serialized()).code == 200
    }
}
