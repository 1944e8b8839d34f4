// Keeps ClusterRecords current: a list (in pages of 500, so a large cluster never sits in memory
// as one JSON document) then a watch for Services, EndpointSlices and Pods, one thread each.
// Each object is decoded to its few DNS fields and dropped. A watch that ends resumes from the
// last resourceVersion; an error or a 410 relists, and what the fresh list lacks is removed.
import API
import Client
import Foundation
import Synchronization

final class ClusterWatch: Sendable {
    let server: String
    let records: ClusterRecords
    let log: @Sendable (String) -> Void
    private let stopped = Atomic<Bool>(false)
    private let syncedKinds = Mutex<Set<String>>([])

    init(server: String, records: ClusterRecords, log: @escaping @Sendable (String) -> Void) {
        self.server = server
        self.records = records
        self.log = log
    }

    enum Kind: String, CaseIterable {
        case services = "/api/v1/services"
        case endpointSlices = "/apis/discovery.k8s.io/v1/endpointslices"
        case pods = "/api/v1/pods"
    }

    func start() {
        for kind in Kind.allCases { Thread.detachNewThread { self.run(kind) } }
    }

    func stop() { stopped.store(true, ordering: .relaxed) }

    private func run(_ kind: Kind) {
        var lastError = ""
        while !stopped.load(ordering: .relaxed) {
            do {
                let client = try APIClient(server: server)
                var version = try relist(kind, client)
                markSynced(kind)
                lastError = ""
                while !stopped.load(ordering: .relaxed) {
                    version = try watch(kind, client, from: version)
                }
            } catch {
                let text = "\(error)"
                if text != lastError { log("cluster DNS: \(kind.rawValue): \(text); retrying"); lastError = text }
                Thread.sleep(forTimeInterval: 0.5)
            }
        }
    }

    /// Lists every page; returns the list's resourceVersion.
    private func relist(_ kind: Kind, _ client: APIClient) throws -> String {
        var seen = Set<String>()
        var token = "", version = ""
        repeat {
            var path = kind.rawValue + "?limit=500"
            if !token.isEmpty { path += "&continue=" + (token.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? token) }
            let page = try client.get(path)
            guard page.code == 200 else { throw ClientError(page.errorMessage) }
            let body = try page.json()
            for item in body["items"]?.arrayValue ?? [] {
                if let key = apply(kind, item) { seen.insert(key) }
            }
            token = body["metadata"]?["continue"]?.stringValue ?? ""
            version = body["metadata"]?["resourceVersion"]?.stringValue ?? version
        } while !token.isEmpty
        let held: [String]
        switch kind {
        case .services: held = records.serviceKeys()
        case .endpointSlices: held = records.sliceKeys()
        case .pods: held = records.podKeys()
        }
        for key in held where !seen.contains(key) { remove(kind, key) }
        return version
    }

    /// Follows one watch until the server ends it; returns the last resourceVersion seen.
    private func watch(_ kind: Kind, _ client: APIClient, from version: String) throws -> String {
        var version = version
        let stream = try client.watch(kind.rawValue + "?watch=true&allowWatchBookmarks=true&resourceVersion=" + version)
        defer { stream.close() }
        while let event = try stream.next() {
            guard let type = event["type"]?.stringValue, let object = event["object"] else { continue }
            if type == "ERROR" { throw ClientError(object["message"]?.stringValue ?? "watch error") }
            if let v = object["metadata"]?["resourceVersion"]?.stringValue { version = v }
            switch type {
            case "ADDED", "MODIFIED": _ = apply(kind, object)
            case "DELETED": remove(kind, objectKey(object))
            default: break   // BOOKMARK: only the version
            }
        }
        return version
    }

    /// Records the object; returns its key when it is one the records hold.
    private func apply(_ kind: Kind, _ o: JSONValue) -> String? {
        switch kind {
        case .services:
            // A Service without a usable address is removed (its type may have changed).
            guard let s = ServiceInfo(json: o) else { remove(kind, objectKey(o)); return nil }
            records.upsert(s)
        case .endpointSlices:
            guard let s = SliceInfo(json: o) else { return nil }
            records.upsert(s)
        case .pods:
            guard let p = PodInfo(json: o) else { return nil }
            records.upsert(p)
        }
        return objectKey(o)
    }

    private func remove(_ kind: Kind, _ key: String) {
        let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { return }
        switch kind {
        case .services: records.removeService(namespace: parts[0], name: parts[1])
        case .endpointSlices: records.removeSlice(namespace: parts[0], name: parts[1])
        case .pods: records.removePod(namespace: parts[0], name: parts[1])
        }
    }

    private func markSynced(_ kind: Kind) {
        let all = syncedKinds.withLock { s -> Bool in s.insert(kind.rawValue); return s.count == Kind.allCases.count }
        if all, !records.synced {
            records.synced = true
            log("cluster DNS: synced \(records.serviceCount) services")
        }
    }
}
