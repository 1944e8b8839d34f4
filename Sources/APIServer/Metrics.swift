// The API server's series on the master's /metrics, named and labelled as kube-apiserver's:
// apiserver_request_total and apiserver_request_duration_seconds per verb, dry run, group,
// version, resource, subresource, scope and code; open watches (apiserver_longrunning_requests)
// and the events they sent; the store's revision. The store's own latency is InstrumentedStore's,
// the controllers' and scheduler's series are theirs: one registry holds them all.
import API
import CoreMetrics
import Telemetry

final class Metrics: Sendable {
    let registry: MetricsRegistry

    /// A request's labels (kube-apiserver's, less component: always "apiserver").
    struct RequestLabels: Hashable, Sendable {
        var verb: String
        var dryRun: Bool
        var group: String
        var version: String
        var resource: String
        var subresource: String
        var scope: String

        var dimensions: [(String, String)] {
            [("verb", verb), ("dry_run", dryRun ? "All" : ""), ("group", group), ("version", version), ("resource", resource),
             ("subresource", subresource), ("scope", scope), ("component", "apiserver")]
        }
    }
    struct CodedLabels: Hashable, Sendable { var request: RequestLabels; var code: Int }
    struct KindLabels: Hashable, Sendable { var group: String; var version: String; var kind: String }

    private let requests: LabeledHandles<CodedLabels, Counter>
    private let durations: LabeledHandles<RequestLabels, CoreMetrics.Timer>
    private let longRunning: LabeledHandles<RequestLabels, Meter>
    private let watchEvents: LabeledHandles<KindLabels, Counter>
    private let revision: Meter

    init(registry: MetricsRegistry) {
        self.registry = registry
        let factory = registry.factory
        requests = LabeledHandles { Counter(label: "apiserver_request_total", dimensions: $0.request.dimensions + [("code", String($0.code))], factory: factory) }
        durations = LabeledHandles { CoreMetrics.Timer(label: "apiserver_request_duration_seconds", dimensions: $0.dimensions, factory: factory) }
        longRunning = LabeledHandles { Meter(label: "apiserver_longrunning_requests", dimensions: $0.dimensions, factory: factory) }
        watchEvents = LabeledHandles {
            Counter(label: "apiserver_watch_events_total", dimensions: [("group", $0.group), ("version", $0.version), ("kind", $0.kind)], factory: factory)
        }
        revision = Meter(label: "skiff_store_revision", dimensions: [], factory: factory)
        ProcessMetrics.register(in: registry)
    }

    /// kube-apiserver's scope label: "resource" for one named object (or a create), "namespace" for
    /// a namespace's collection, "cluster" for the whole cluster's.
    static func scope(_ rr: ResourceRequest, verb: String) -> String {
        if rr.name != nil || verb == "POST" { return "resource" }
        return rr.namespace == nil ? "cluster" : "namespace"
    }

    static func labels(_ rr: ResourceRequest, verb: String, dryRun: Bool) -> RequestLabels {
        RequestLabels(verb: verb, dryRun: dryRun, group: rr.type.group, version: rr.type.version, resource: rr.type.plural,
                      subresource: rr.subresource ?? "", scope: scope(rr, verb: verb))
    }

    /// One request answered: a resource request (`rr`), or a path (/metrics, /healthz, discovery) with
    /// empty group, version, resource and scope, as kube-apiserver counts those.
    func record(_ rr: ResourceRequest?, verb: String, dryRun: Bool, code: Int, nanoseconds: Int64) {
        let labels = rr.map { Self.labels($0, verb: verb, dryRun: dryRun) }
            ?? RequestLabels(verb: verb, dryRun: false, group: "", version: "", resource: "", subresource: "", scope: "")
        requests[CodedLabels(request: labels, code: code)].increment()
        durations[labels].recordNanoseconds(nanoseconds)
    }

    /// The open-watch gauge of a watch request (incremented now; the caller decrements it when the watch ends).
    func watchOpened(_ rr: ResourceRequest) -> Meter {
        let gauge = longRunning[Self.labels(rr, verb: "WATCH", dryRun: false)]
        gauge.increment()
        return gauge
    }

    /// The counter of events sent to watchers of `type`.
    func watchEventCounter(_ type: ResourceType) -> Counter {
        watchEvents[KindLabels(group: type.group, version: type.version, kind: type.kind)]
    }

    func render(storeRevision: Int64) -> [UInt8] {
        revision.set(storeRevision)
        return registry.render()
    }
}
