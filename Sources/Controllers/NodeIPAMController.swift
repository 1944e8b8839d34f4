// Node IPAM: every node gets a podCIDR (a /24 by default) from the cluster CIDR, written once to
// spec.podCIDR(s); what existing nodes hold is never handed out again, also after a restart
// (the nodes themselves are the record).
import API
import Client
import Foundation

final class NodeIPAMController: Controller, InitialKeys, @unchecked Sendable {
    let name = "nodeipam"
    let informers: SharedInformers
    let queue = WorkQueue()
    let clusterCIDR: IPv4CIDR
    let nodeMaskSize: Int
    private let lock = NSLock()
    /// Blocks handed out by this process not yet seen on a node (the informer may lag).
    private var pending = Set<IPv4CIDR>()

    init(informers: SharedInformers, clusterCIDR: IPv4CIDR, nodeMaskSize: Int = 24) {
        self.informers = informers
        self.clusterCIDR = clusterCIDR
        self.nodeMaskSize = nodeMaskSize
        informers.nodes.onEvent { [self] event in
            if case .added(let n) = event { queue.add(objectKey(n)) }
        }
    }

    func initialKeys() -> [String] { informers.nodes.items.map(objectKey) }

    /// The first block no node holds (nil when the cluster CIDR is exhausted).
    func nextFree(taken: Set<IPv4CIDR>) -> IPv4CIDR? {
        let count = 1 << (nodeMaskSize - clusterCIDR.prefix)
        for i in 0..<count {
            if let block = clusterCIDR.subnet(i, prefix: nodeMaskSize), !taken.contains(block) { return block }
        }
        return nil
    }

    func sync(_ key: String, client: APIClient) throws {
        guard let node = informers.nodes.get(key), node["spec"]?["podCIDR"]?.stringValue == nil else { return }
        lock.lock()
        var taken = pending
        for n in informers.nodes.items { if let c = n["spec"]?["podCIDR"]?.stringValue.flatMap(IPv4CIDR.init) { taken.insert(c) } }
        guard let block = nextFree(taken: taken) else {
            lock.unlock()
            throw ClientError("no pod CIDR left in \(clusterCIDR) for node \(key)")
        }
        pending.insert(block)
        lock.unlock()
        let cidr = JSONValue.string(block.description)
        try client.send("PATCH", "/api/v1/nodes/\(key)", ["spec": ["podCIDR": cidr, "podCIDRs": [cidr]]],
                        contentType: "application/merge-patch+json", missingOK: true)
    }
}
