// The resources Skiff serves, with what discovery (/api/v1, /apis/<group>/<version>) reports:
// the table the API server routes by and kubectl reads to know kinds, scopes, verbs and short names.

public struct APIResource: Codable, Sendable, Equatable {
    public var name: String
    public var singularName: String
    public var namespaced: Bool
    public var kind: String
    public var verbs: [String]
    public var shortNames: [String]?
    public var categories: [String]?
}

public struct ResourceType: Sendable, Equatable {
    public var group: String          // "" for the core group
    public var version: String
    public var plural: String
    public var singular: String
    public var kind: String
    public var namespaced: Bool
    public var shortNames: [String]
    public var subresources: [String: [String]]   // e.g. "status": ["get", "patch", "update"]
    public var inAllCategory: Bool
    /// What discovery lists and the server accepts (read-only kinds such as the metrics: get, list).
    public var verbs: [String] = ResourceRegistry.crud
    /// A CustomResourceDefinition's version: its schema, subresources and columns (nil: built in).
    public var custom: CustomResourceBehavior? = nil
    /// The resource metrics: computed by the master's metrics pipeline, never stored.
    public var isResourceMetrics: Bool { group == "metrics.k8s.io" }
    /// The reviews: questions to the server (AccessReviews), created and answered, never stored.
    public var isReview: Bool { group == "authentication.k8s.io" || group == "authorization.k8s.io" }

    public var groupVersion: String { group.isEmpty ? version : "\(group)/\(version)" }

    /// A resource a client learnt of from the server's discovery (a custom resource).
    public static func discovered(group: String, version: String, plural: String, singular: String, kind: String,
                                  namespaced: Bool, subresources: [String: [String]]) -> ResourceType {
        ResourceType(group: group, version: version, plural: plural, singular: singular, kind: kind, namespaced: namespaced,
                     shortNames: [], subresources: subresources, inAllCategory: false)
    }
}

public enum ResourceRegistry {
    public static let crud = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
    public static let readOnly = ["get", "list"]
    static let statusVerbs = ["get", "patch", "update"]

    public static let all: [ResourceType] = [
        .init(group: "", version: "v1", plural: "namespaces", singular: "namespace", kind: "Namespace", namespaced: false,
              shortNames: ["ns"], subresources: ["status": statusVerbs, "finalize": ["update"]], inAllCategory: false),
        .init(group: "", version: "v1", plural: "pods", singular: "pod", kind: "Pod", namespaced: true, shortNames: ["po"],
              subresources: ["status": statusVerbs, "binding": ["create"], "eviction": ["create"], "log": ["get"], "exec": ["create", "get"],
                             "ephemeralcontainers": ["get", "patch", "update"]],
              inAllCategory: true),
        .init(group: "", version: "v1", plural: "nodes", singular: "node", kind: "Node", namespaced: false, shortNames: ["no"],
              subresources: ["status": statusVerbs], inAllCategory: false),
        .init(group: "", version: "v1", plural: "services", singular: "service", kind: "Service", namespaced: true,
              shortNames: ["svc"], subresources: ["status": statusVerbs], inAllCategory: true),
        .init(group: "", version: "v1", plural: "endpoints", singular: "endpoints", kind: "Endpoints", namespaced: true,
              shortNames: ["ep"], subresources: [:], inAllCategory: false),
        .init(group: "", version: "v1", plural: "configmaps", singular: "configmap", kind: "ConfigMap", namespaced: true,
              shortNames: ["cm"], subresources: [:], inAllCategory: false),
        .init(group: "", version: "v1", plural: "secrets", singular: "secret", kind: "Secret", namespaced: true,
              shortNames: [], subresources: [:], inAllCategory: false),
        .init(group: "", version: "v1", plural: "serviceaccounts", singular: "serviceaccount", kind: "ServiceAccount", namespaced: true,
              shortNames: ["sa"], subresources: ["token": ["create"]], inAllCategory: false),
        .init(group: "", version: "v1", plural: "persistentvolumeclaims", singular: "persistentvolumeclaim",
              kind: "PersistentVolumeClaim", namespaced: true, shortNames: ["pvc"], subresources: ["status": statusVerbs],
              inAllCategory: false),
        .init(group: "", version: "v1", plural: "persistentvolumes", singular: "persistentvolume",
              kind: "PersistentVolume", namespaced: false, shortNames: ["pv"], subresources: ["status": statusVerbs],
              inAllCategory: false),
        .init(group: "", version: "v1", plural: "events", singular: "event", kind: "Event", namespaced: true,
              shortNames: ["ev"], subresources: [:], inAllCategory: false),
        .init(group: "", version: "v1", plural: "replicationcontrollers", singular: "replicationcontroller",
              kind: "ReplicationController", namespaced: true, shortNames: ["rc"],
              subresources: ["status": statusVerbs, "scale": statusVerbs], inAllCategory: true),
        .init(group: "apps", version: "v1", plural: "replicasets", singular: "replicaset", kind: "ReplicaSet", namespaced: true,
              shortNames: ["rs"], subresources: ["status": statusVerbs, "scale": statusVerbs], inAllCategory: true),
        .init(group: "apps", version: "v1", plural: "deployments", singular: "deployment", kind: "Deployment", namespaced: true,
              shortNames: ["deploy"], subresources: ["status": statusVerbs, "scale": statusVerbs], inAllCategory: true),
        .init(group: "apps", version: "v1", plural: "daemonsets", singular: "daemonset", kind: "DaemonSet", namespaced: true,
              shortNames: ["ds"], subresources: ["status": statusVerbs], inAllCategory: true),
        .init(group: "apps", version: "v1", plural: "statefulsets", singular: "statefulset", kind: "StatefulSet", namespaced: true,
              shortNames: ["sts"], subresources: ["status": statusVerbs, "scale": statusVerbs], inAllCategory: true),
        .init(group: "apps", version: "v1", plural: "controllerrevisions", singular: "controllerrevision",
              kind: "ControllerRevision", namespaced: true, shortNames: [], subresources: [:], inAllCategory: false),
        // The reviews (AccessReviews.swift): questions answered on create, never stored.
        .init(group: "authentication.k8s.io", version: "v1", plural: "tokenreviews", singular: "tokenreview", kind: "TokenReview",
              namespaced: false, shortNames: [], subresources: [:], inAllCategory: false, verbs: ["create"]),
        .init(group: "authentication.k8s.io", version: "v1", plural: "selfsubjectreviews", singular: "selfsubjectreview",
              kind: "SelfSubjectReview", namespaced: false, shortNames: [], subresources: [:], inAllCategory: false, verbs: ["create"]),
        .init(group: "authorization.k8s.io", version: "v1", plural: "subjectaccessreviews", singular: "subjectaccessreview",
              kind: "SubjectAccessReview", namespaced: false, shortNames: [], subresources: [:], inAllCategory: false, verbs: ["create"]),
        .init(group: "authorization.k8s.io", version: "v1", plural: "selfsubjectaccessreviews", singular: "selfsubjectaccessreview",
              kind: "SelfSubjectAccessReview", namespaced: false, shortNames: [], subresources: [:], inAllCategory: false, verbs: ["create"]),
        .init(group: "authorization.k8s.io", version: "v1", plural: "localsubjectaccessreviews", singular: "localsubjectaccessreview",
              kind: "LocalSubjectAccessReview", namespaced: true, shortNames: [], subresources: [:], inAllCategory: false, verbs: ["create"]),
        .init(group: "batch", version: "v1", plural: "jobs", singular: "job", kind: "Job", namespaced: true,
              shortNames: [], subresources: ["status": statusVerbs], inAllCategory: true),
        .init(group: "batch", version: "v1", plural: "cronjobs", singular: "cronjob", kind: "CronJob", namespaced: true,
              shortNames: ["cj"], subresources: ["status": statusVerbs], inAllCategory: true),
        // autoscaling/v2 first: the group's preferred version, and where the objects are stored.
        .init(group: "autoscaling", version: "v2", plural: "horizontalpodautoscalers", singular: "horizontalpodautoscaler",
              kind: "HorizontalPodAutoscaler", namespaced: true, shortNames: ["hpa"], subresources: ["status": statusVerbs], inAllCategory: true),
        .init(group: "autoscaling", version: "v1", plural: "horizontalpodautoscalers", singular: "horizontalpodautoscaler",
              kind: "HorizontalPodAutoscaler", namespaced: true, shortNames: ["hpa"], subresources: ["status": statusVerbs], inAllCategory: false),
        .init(group: "policy", version: "v1", plural: "poddisruptionbudgets", singular: "poddisruptionbudget",
              kind: "PodDisruptionBudget", namespaced: true, shortNames: ["pdb"], subresources: ["status": statusVerbs], inAllCategory: false),
        .init(group: "storage.k8s.io", version: "v1", plural: "storageclasses", singular: "storageclass",
              kind: "StorageClass", namespaced: false, shortNames: ["sc"], subresources: [:], inAllCategory: false),
        .init(group: "storage.k8s.io", version: "v1", plural: "csidrivers", singular: "csidriver",
              kind: "CSIDriver", namespaced: false, shortNames: [], subresources: [:], inAllCategory: false),
        .init(group: "storage.k8s.io", version: "v1", plural: "csinodes", singular: "csinode",
              kind: "CSINode", namespaced: false, shortNames: [], subresources: [:], inAllCategory: false),
        .init(group: "storage.k8s.io", version: "v1", plural: "volumeattachments", singular: "volumeattachment",
              kind: "VolumeAttachment", namespaced: false, shortNames: [], subresources: ["status": statusVerbs], inAllCategory: false),
        .init(group: "coordination.k8s.io", version: "v1", plural: "leases", singular: "lease", kind: "Lease", namespaced: true,
              shortNames: [], subresources: [:], inAllCategory: false),
        .init(group: "discovery.k8s.io", version: "v1", plural: "endpointslices", singular: "endpointslice",
              kind: "EndpointSlice", namespaced: true, shortNames: [], subresources: [:], inAllCategory: false),
        .init(group: "rbac.authorization.k8s.io", version: "v1", plural: "roles", singular: "role", kind: "Role", namespaced: true,
              shortNames: [], subresources: [:], inAllCategory: false),
        .init(group: "rbac.authorization.k8s.io", version: "v1", plural: "rolebindings", singular: "rolebinding", kind: "RoleBinding",
              namespaced: true, shortNames: [], subresources: [:], inAllCategory: false),
        .init(group: "rbac.authorization.k8s.io", version: "v1", plural: "clusterroles", singular: "clusterrole", kind: "ClusterRole",
              namespaced: false, shortNames: [], subresources: [:], inAllCategory: false),
        .init(group: "rbac.authorization.k8s.io", version: "v1", plural: "clusterrolebindings", singular: "clusterrolebinding",
              kind: "ClusterRoleBinding", namespaced: false, shortNames: [], subresources: [:], inAllCategory: false),
        .init(group: "apiextensions.k8s.io", version: "v1", plural: "customresourcedefinitions", singular: "customresourcedefinition",
              kind: "CustomResourceDefinition", namespaced: false, shortNames: ["crd", "crds"], subresources: ["status": statusVerbs],
              inAllCategory: false),
        .init(group: "apiregistration.k8s.io", version: "v1", plural: "apiservices", singular: "apiservice", kind: "APIService",
              namespaced: false, shortNames: [], subresources: ["status": statusVerbs], inAllCategory: false),
        // The resource metrics (metrics-server's discovery: no singular names, get and list only).
        .init(group: "metrics.k8s.io", version: "v1beta1", plural: "nodes", singular: "", kind: "NodeMetrics", namespaced: false,
              shortNames: [], subresources: [:], inAllCategory: false, verbs: readOnly),
        .init(group: "metrics.k8s.io", version: "v1beta1", plural: "pods", singular: "", kind: "PodMetrics", namespaced: true,
              shortNames: [], subresources: [:], inAllCategory: false, verbs: readOnly),
    ] + governance

    /// Subresources whose objects are of another kind than their resource's.
    public static let subresourceKinds = ["scale": "Scale", "binding": "Binding", "exec": "PodExecOptions", "eviction": "Eviction"]

    /// Subresources whose kind lives in another group version (discovery's group and version fields).
    public static let subresourceGroupVersions = ["scale": ("autoscaling", "v1"), "eviction": ("policy", "v1")]

    /// The resource serving `plural` in `groupVersion` ("v1", "apps/v1", ...).
    public static func lookup(groupVersion: String, plural: String) -> ResourceType? {
        all.first { $0.groupVersion == groupVersion && $0.plural == plural }
    }

    /// By kind, as manifests name things ("apps/v1", "Deployment").
    public static func lookup(apiVersion: String, kind: String) -> ResourceType? {
        all.first { $0.groupVersion == apiVersion && $0.kind == kind }
    }

    /// The version a resource served in several keeps its objects in (the others are views
    /// converted on the way in and out: VersionConversion); a resource served once is its own.
    public static func storageType(of type: ResourceType) -> ResourceType {
        if let custom = type.custom { return custom.storageType ?? type }
        return all.first { $0.group == type.group && $0.plural == type.plural } ?? type
    }

    public static func isStorageVersion(_ type: ResourceType) -> Bool { storageType(of: type) == type }

    public static var groupVersions: [String] { ServedResources.builtIn.groupVersions }

    /// The discovery list for one group version (main resources and their subresources).
    public static func resources(in groupVersion: String) -> [APIResource] { ServedResources.builtIn.resources(in: groupVersion) }
}

/// Every resource served now: the built-in ones and those of Established CustomResourceDefinitions.
public struct ServedResources: Sendable {
    public let all: [ResourceType]
    public let groupVersions: [String]
    /// By "<groupVersion>/<plural>": every request routes through a lookup, custom kinds last in `all`.
    let byPath: [String: ResourceType]

    public static let builtIn = ServedResources(custom: [])

    public init(custom: [ResourceType]) {
        all = ResourceRegistry.all + custom
        var seen: [String] = []
        var byPath: [String: ResourceType] = [:]
        for r in all {
            if !seen.contains(r.groupVersion) { seen.append(r.groupVersion) }
            if byPath[r.groupVersion + "/" + r.plural] == nil { byPath[r.groupVersion + "/" + r.plural] = r }
        }
        groupVersions = seen
        self.byPath = byPath
    }

    public func lookup(groupVersion: String, plural: String) -> ResourceType? { byPath[groupVersion + "/" + plural] }

    public func lookup(apiVersion: String, kind: String) -> ResourceType? {
        all.first { $0.groupVersion == apiVersion && $0.kind == kind }
    }

    /// The discovery list for one group version (main resources and their subresources).
    public func resources(in groupVersion: String) -> [APIResource] {
        var out: [APIResource] = []
        for r in all where r.groupVersion == groupVersion {
            let categories = r.custom?.categories ?? (r.inAllCategory ? ["all"] : [])
            out.append(APIResource(name: r.plural, singularName: r.singular, namespaced: r.namespaced, kind: r.kind,
                                   verbs: r.verbs,
                                   shortNames: r.shortNames.isEmpty ? nil : r.shortNames,
                                   categories: categories.isEmpty ? nil : categories))
            for (sub, verbs) in r.subresources.sorted(by: { $0.key < $1.key }) {
                let kind = ResourceRegistry.subresourceKinds[sub] ?? r.kind
                out.append(APIResource(name: "\(r.plural)/\(sub)", singularName: "", namespaced: r.namespaced, kind: kind,
                                       verbs: verbs, shortNames: nil, categories: nil))
            }
        }
        return out
    }
}
