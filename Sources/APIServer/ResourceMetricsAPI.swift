// metrics.k8s.io/v1beta1 served from the master's metrics pipeline, answering as metrics-server
// does: NodeMetrics for nodes and PodMetrics for pods (get and list, label and field selectors
// over the nodes' and pods' own metadata), only for what has two readings; 404s worded as its.
// The pipeline scrapes the node servers through the same client and credentials as pods/log.
import API
import Foundation
import MetricsPipeline
import NIOSSL

extension KubernetesAPI {
    /// A /stats/summary body may not exceed this (a node of a few thousand pods writes a few MiB).
    static let maxStatsBytes = 64 << 20

    /// Starts the metrics pipeline: a scrape of every Ready node every `resolution` seconds.
    public func startResourceMetrics(resolution: TimeInterval, log: @escaping @Sendable (String) -> Void) -> Task<Void, Never> {
        let store = ResourceMetricsStore(resolution: resolution)
        let storage = self.storage, tls = nodeTLS?.context
        let scraper = MetricsScraper(store: store, resolution: resolution, nodes: {
            try await storage.list(Self.nodeType, namespace: nil).map(Node.init(json:))
        }, fetch: { target in
            try await Self.fetchStats(target, tls: tls)
        }, log: log)
        metricsSource.withLock { $0 = store }
        return Task.detached { await scraper.run() }
    }

    /// GET /stats/summary of one node server, whole.
    static func fetchStats(_ target: StatsTarget, tls: NIOSSLContext?) async throws -> [UInt8] {
        let response = try await NodeResponse.get(host: target.host, port: target.port, path: "/stats/summary", tls: tls)
        var body: [UInt8] = []
        for await chunk in response.body {
            body += chunk
            if body.count > maxStatsBytes { throw ScrapeError(description: "the stats summary exceeds \(maxStatsBytes >> 20) MiB") }
        }
        try Task.checkCancellation()
        guard response.status == 200 else {
            throw ScrapeError(description: "HTTP \(response.status): \(String(decoding: body.prefix(200), as: UTF8.self))")
        }
        return body
    }

    /// Announces the resource metrics API the way a cluster with metrics-server does (an edited one is kept).
    func ensureMetricsAPIService() async {
        guard let type = ResourceRegistry.lookup(apiVersion: APIService.apiVersion, kind: APIService.kind) else { return }
        _ = try? await storage.create(type, namespace: nil, body: APIServiceRules.metricsAPIService().json)
    }

    static let nodeType = ResourceRegistry.lookup(groupVersion: "v1", plural: "nodes")!
    static let podType = ResourceRegistry.lookup(groupVersion: "v1", plural: "pods")!

    func handleResourceMetrics(_ request: HTTPRequest, _ rr: ResourceRequest) async throws -> HTTPReply {
        let watching = request.query["watch"].map { $0 == "true" || $0 == "1" } ?? false
        guard request.method == .GET || request.method == .HEAD, !watching, rr.subresource == nil else {
            throw APIError.methodNotAllowed("the server does not allow this method on the requested resource")
        }
        guard let source = metricsSource.withLock({ $0 }) else {
            throw APIError(Status(code: 503, reason: "ServiceUnavailable", message: "the server is currently unable to handle the request"))
        }
        let now = Date()
        let items: [JSONValue]
        let rows: [[JSONValue]]
        if rr.type.kind == "NodeMetrics" {
            let nodes: [Node]
            if let name = rr.name {
                guard let kv = try? await storage.getRaw(Self.nodeType, namespace: nil, name: name) else {
                    throw APIError(.notFound(group: "", resource: "node", name: name))   // (the node lister's words)
                }
                nodes = [Node(json: ObjectCodec.decode(kv.value, revision: kv.modRevision))]
            } else {
                let filter = try filter(request, rr.type)
                nodes = try await storage.list(Self.nodeType, namespace: nil).filter(filter.matches).map(Node.init(json:))
            }
            let found = nodes.compactMap { node in source.nodeUsage(node.name).map { (node, $0) } }
            if let name = rr.name, found.isEmpty {
                throw APIError(.notFound(group: "metrics.k8s.io", resource: "nodemetrics", name: name))
            }
            items = found.map { Self.nodeMetrics($0.0, $0.1, now: now).json }
            rows = found.map { [.string($0.0.name), .string(Self.cpu($0.1.usage.nanoCores)), .string(Self.memory($0.1.usage.workingSetBytes)),
                                .string(GoDuration.format(nanoseconds: $0.1.windowNanos))] }
        } else {
            let pods: [Pod]
            if let name = rr.name, let namespace = rr.namespace {
                guard let kv = try? await storage.getRaw(Self.podType, namespace: namespace, name: name) else {
                    throw APIError(.notFound(group: "", resource: "pods", name: name))
                }
                pods = [Pod(json: ObjectCodec.decode(kv.value, revision: kv.modRevision))]
            } else {
                let filter = try filter(request, rr.type)
                pods = try await storage.list(Self.podType, namespace: rr.namespace).filter(filter.matches).map(Pod.init(json:))
            }
            let found = pods.compactMap { pod in source.podUsage(namespace: pod.namespace, name: pod.name).map { (pod, $0) } }
            if let name = rr.name, found.isEmpty {
                throw APIError(.notFound(group: "metrics.k8s.io", resource: "podmetrics", name: "\(rr.namespace ?? "")/\(name)"))
            }
            items = found.map { Self.podMetrics($0.0, $0.1, now: now).json }
            rows = found.map { pod, usage in
                let cpu = usage.containers.reduce(UInt64(0)) { $0 &+ $1.usage.nanoCores }
                let memory = usage.containers.reduce(UInt64(0)) { $0 &+ $1.usage.workingSetBytes }
                return [.string(pod.name), .string(Self.cpu(cpu)), .string(Self.memory(memory)), .string(GoDuration.format(nanoseconds: usage.windowNanos))]
            }
        }
        if wantsTable(request) {
            return JSONReply.bytes(Self.metricsTable(items, rows, includeObject: request.query["includeObject"] ?? "Metadata").serialized())
        }
        if rr.name != nil, let item = items.first { return JSONReply.bytes(item.serialized()) }
        let list: JSONValue = ["kind": .string(rr.type.kind + "List"), "apiVersion": .string(rr.type.groupVersion),
                               "metadata": .object(JSONObject()), "items": .array(items)]
        return JSONReply.bytes(list.serialized())
    }

    static func cpu(_ nanoCores: UInt64) -> String { Quantity(Int64(clamping: nanoCores), scale: -9).description }
    static func memory(_ bytes: UInt64) -> String { Quantity(Int64(clamping: bytes), format: .binarySI).description }

    static func usageMap(_ u: Usage) -> [String: String] { ["cpu": cpu(u.nanoCores), "memory": memory(u.workingSetBytes)] }

    static func nodeMetrics(_ node: Node, _ usage: NodeUsage, now: Date) -> NodeMetrics {
        var m = NodeMetrics.new(name: node.name)
        m.metadata.labels = node.metadata.labels
        m.metadata.creationTimestamp = now
        m.timestamp = usage.timestamp
        m.window = GoDuration.format(nanoseconds: usage.windowNanos)
        m.usage = usageMap(usage.usage)
        return m
    }

    static func podMetrics(_ pod: Pod, _ usage: PodUsage, now: Date) -> PodMetrics {
        var m = PodMetrics.new(namespace: pod.namespace, name: pod.name)
        m.metadata.labels = pod.metadata.labels
        m.metadata.creationTimestamp = now
        m.timestamp = usage.timestamp
        m.window = GoDuration.format(nanoseconds: usage.windowNanos)
        m.containers = usage.containers.map { c in
            var cm = ContainerMetrics()
            cm.name = c.name
            cm.usage = usageMap(c.usage)
            return cm
        }
        return m
    }

    /// metrics-server's table: name, the summed usage per resource, and the window.
    static func metricsTable(_ items: [JSONValue], _ rows: [[JSONValue]], includeObject: String) -> JSONValue {
        let columns = [TableColumn(name: "Name", format: "name", description: "Name of the resource"),
                       TableColumn(name: "cpu", format: "quantity"), TableColumn(name: "memory", format: "quantity"),
                       TableColumn(name: "Window", format: "duration")]
        let tableRows = zip(items, rows).map { item, cells -> JSONValue in
            var row: JSONValue = ["cells": .array(cells)]
            switch includeObject {
            case "None": break
            case "Object": row["object"] = item
            default: row["object"] = ["kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": item["metadata"] ?? .null]
            }
            return row
        }
        return ["kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": .object(JSONObject()),
                "columnDefinitions": .array(columns.map(\.json)), "rows": .array(tableRows)]
    }
}
