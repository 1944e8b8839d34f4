// How the master reaches a node's own server (the kubelet port): for logs, exec and the
// metrics pipeline's stats scrapes alike.

extension Node {
    /// The node's InternalIP (else its first address) and the port its node server reports.
    public var serverEndpoint: (host: String, port: Int)? {
        let addresses = status.addresses
        guard let host = (addresses.first { $0.type == "InternalIP" } ?? addresses.first)?.address, !host.isEmpty,
              let port = status.daemonEndpoints.kubeletEndpoint.port, port > 0, port <= 65535 else { return nil }
        return (host, Int(port))
    }

    /// Its Ready condition is True.
    public var isReady: Bool { status.conditions.contains { $0.type == "Ready" && $0.status == .true } }
}
