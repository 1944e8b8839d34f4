// Field numbers of the Kubernetes protobuf messages Skiff accepts (from k8s.io/api and
// k8s.io/apimachinery generated.proto). Filled in for the objects kubectl's typed clients send.
//
// Sources: kubernetes/kubernetes staging/src/k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto,
// staging/src/k8s.io/api/core/v1/generated.proto and staging/src/k8s.io/api/apps/v1/generated.proto.
// Field numbers never change between releases, so fields newer than kubectl 1.33 are harmless.
//
// JSON names are the Go json tags. Messages that Go embeds inline (`json:",inline"`: Volume's
// VolumeSource, Probe's ProbeHandler, the LocalObjectReference inside ConfigMapKeySelector,
// SecretKeySelector, ConfigMapEnvSource, SecretEnvSource, EphemeralContainer's common part) cannot
// be expressed field by field, so those fields are .skip rather than decoded into a wrong shape.
// Fields whose JSON is raw (managedFields' fieldsV1) are .skip as well; the server owns them.

public enum ProtobufSchemas {
    /// "apiVersion/Kind" → message name.
    public static let kinds: [String: String] = [
        "v1/ConfigMap": "core.ConfigMap",
        "v1/Secret": "core.Secret",
        "v1/Namespace": "core.Namespace",
        "v1/Service": "core.Service",
        "v1/ServiceAccount": "core.ServiceAccount",
        "v1/Pod": "core.Pod",
        "v1/Endpoints": "core.Endpoints",
        "v1/Event": "core.Event",
        "apps/v1/Deployment": "apps.Deployment",
        "apps/v1/ReplicaSet": "apps.ReplicaSet",
        "rbac.authorization.k8s.io/v1/Role": "rbac.Role",
        "rbac.authorization.k8s.io/v1/ClusterRole": "rbac.Role",
        "rbac.authorization.k8s.io/v1/RoleBinding": "rbac.RoleBinding",
        "rbac.authorization.k8s.io/v1/ClusterRoleBinding": "rbac.RoleBinding",
        "authentication.k8s.io/v1/TokenRequest": "authentication.TokenRequest",
        "policy/v1beta1/Eviction": "policy.Eviction",   // pods/eviction takes both versions (the same fields)
        "v1/DeleteOptions": "meta.DeleteOptions",
        "meta.k8s.io/v1/DeleteOptions": "meta.DeleteOptions",
        "autoscaling/v1/HorizontalPodAutoscaler": "autoscalingv1.HorizontalPodAutoscaler",   // kubectl autoscale sends it
    ].merging(generatedKinds) { a, _ in a }

    /// Message name → field number → field.
    public static let messages: [String: [Int: ProtoField]] =
        meta.merging(core) { a, _ in a }.merging(pod) { a, _ in a }.merging(apps) { a, _ in a }.merging(auth) { a, _ in a }
            .merging(autoscalingV1) { a, _ in a }.merging(generatedMessages) { a, _ in a }   // from Schema/*.schema (hack/codegen.sh)

    typealias F = ProtoField
    static let stringMap: ProtoType = .map(.string, .string)
    static let bytesMap: ProtoType = .map(.string, .bytes)
    static let quantityMap: ProtoType = .map(.string, .quantity)

    // MARK: k8s.io.apimachinery.pkg.apis.meta.v1

    private static let meta: [String: [Int: ProtoField]] = [
        "meta.ObjectMeta": [
            1: F("name", .string),
            2: F("generateName", .string),
            3: F("namespace", .string),
            4: F("selfLink", .string),
            5: F("uid", .string),
            6: F("resourceVersion", .string),
            7: F("generation", .int),
            8: F("creationTimestamp", .time),
            9: F("deletionTimestamp", .time),
            10: F("deletionGracePeriodSeconds", .int),
            11: F("labels", stringMap),
            12: F("annotations", stringMap),
            13: F("ownerReferences", .message("meta.OwnerReference"), repeated: true),
            14: F("finalizers", .string, repeated: true),
            // 15 was clusterName (removed in 1.24). ManagedFieldsEntry.fieldsV1 is raw JSON.
            17: F("managedFields", .skip, repeated: true),
        ],
        "meta.OwnerReference": [
            5: F("apiVersion", .string),
            1: F("kind", .string),
            3: F("name", .string),
            4: F("uid", .string),
            6: F("controller", .bool),
            7: F("blockOwnerDeletion", .bool),
        ],
        "meta.LabelSelector": [
            1: F("matchLabels", stringMap),
            2: F("matchExpressions", .message("meta.LabelSelectorRequirement"), repeated: true),
        ],
        "meta.LabelSelectorRequirement": [
            1: F("key", .string),
            2: F("operator", .string),
            3: F("values", .string, repeated: true),
        ],
    ]

    // MARK: k8s.io.api.core.v1 (everything but Pod and its parts)

    private static let core: [String: [Int: ProtoField]] = [
        "core.ConfigMap": [
            1: F("metadata", .message("meta.ObjectMeta")),
            2: F("data", stringMap),
            3: F("binaryData", bytesMap),
            4: F("immutable", .bool),
        ],
        "core.Secret": [
            1: F("metadata", .message("meta.ObjectMeta")),
            2: F("data", bytesMap),
            3: F("type", .string),
            4: F("stringData", stringMap),
            5: F("immutable", .bool),
        ],
        "core.Namespace": [
            1: F("metadata", .message("meta.ObjectMeta")),
            2: F("spec", .message("core.NamespaceSpec")),
            3: F("status", .message("core.NamespaceStatus")),
        ],
        "core.NamespaceSpec": [
            1: F("finalizers", .string, repeated: true),
        ],
        "core.NamespaceStatus": [
            1: F("phase", .string),
            2: F("conditions", .message("core.NamespaceCondition"), repeated: true),
        ],
        "core.NamespaceCondition": [
            1: F("type", .string),
            2: F("status", .string),
            4: F("lastTransitionTime", .time),
            5: F("reason", .string),
            6: F("message", .string),
        ],
        "core.Service": [
            1: F("metadata", .message("meta.ObjectMeta")),
            2: F("spec", .message("core.ServiceSpec")),
            3: F("status", .message("core.ServiceStatus")),
        ],
        "core.ServiceSpec": [
            1: F("ports", .message("core.ServicePort"), repeated: true),
            2: F("selector", stringMap),
            3: F("clusterIP", .string),
            18: F("clusterIPs", .string, repeated: true),
            4: F("type", .string),
            5: F("externalIPs", .string, repeated: true),
            7: F("sessionAffinity", .string),
            8: F("loadBalancerIP", .string),
            9: F("loadBalancerSourceRanges", .string, repeated: true),
            10: F("externalName", .string),
            11: F("externalTrafficPolicy", .string),
            12: F("healthCheckNodePort", .int),
            13: F("publishNotReadyAddresses", .bool),
            14: F("sessionAffinityConfig", .message("core.SessionAffinityConfig")),
            19: F("ipFamilies", .string, repeated: true),
            17: F("ipFamilyPolicy", .string),
            20: F("allocateLoadBalancerNodePorts", .bool),
            21: F("loadBalancerClass", .string),
            22: F("internalTrafficPolicy", .string),
            23: F("trafficDistribution", .string),
        ],
        "core.ServicePort": [
            1: F("name", .string),
            2: F("protocol", .string),
            6: F("appProtocol", .string),
            3: F("port", .int),
            4: F("targetPort", .intOrString),
            5: F("nodePort", .int),
        ],
        "core.SessionAffinityConfig": [
            1: F("clientIP", .message("core.ClientIPConfig")),
        ],
        "core.ClientIPConfig": [
            1: F("timeoutSeconds", .int),
        ],
        "core.ServiceStatus": [
            1: F("loadBalancer", .message("core.LoadBalancerStatus")),
            2: F("conditions", .skip, repeated: true),   // meta.v1.Condition; the server owns status
        ],
        "core.LoadBalancerStatus": [
            1: F("ingress", .message("core.LoadBalancerIngress"), repeated: true),
        ],
        "core.LoadBalancerIngress": [
            1: F("ip", .string),
            2: F("hostname", .string),
            3: F("ipMode", .string),
            4: F("ports", .message("core.PortStatus"), repeated: true),
        ],
        "core.PortStatus": [
            1: F("port", .int),
            2: F("protocol", .string),
            3: F("error", .string),
        ],
        "core.ServiceAccount": [
            1: F("metadata", .message("meta.ObjectMeta")),
            2: F("secrets", .message("core.ObjectReference"), repeated: true),
            3: F("imagePullSecrets", .message("core.LocalObjectReference"), repeated: true),
            4: F("automountServiceAccountToken", .bool),
        ],
        "core.ObjectReference": [
            1: F("kind", .string),
            2: F("namespace", .string),
            3: F("name", .string),
            4: F("uid", .string),
            5: F("apiVersion", .string),
            6: F("resourceVersion", .string),
            7: F("fieldPath", .string),
        ],
        "core.LocalObjectReference": [
            1: F("name", .string),
        ],
        "core.Endpoints": [
            1: F("metadata", .message("meta.ObjectMeta")),
            2: F("subsets", .message("core.EndpointSubset"), repeated: true),
        ],
        "core.EndpointSubset": [
            1: F("addresses", .message("core.EndpointAddress"), repeated: true),
            2: F("notReadyAddresses", .message("core.EndpointAddress"), repeated: true),
            3: F("ports", .message("core.EndpointPort"), repeated: true),
        ],
        "core.EndpointAddress": [
            1: F("ip", .string),
            3: F("hostname", .string),
            4: F("nodeName", .string),
            2: F("targetRef", .message("core.ObjectReference")),
        ],
        "core.EndpointPort": [
            1: F("name", .string),
            2: F("port", .int),
            3: F("protocol", .string),
            4: F("appProtocol", .string),
        ],
        "core.Event": [
            1: F("metadata", .message("meta.ObjectMeta")),
            2: F("involvedObject", .message("core.ObjectReference")),
            3: F("reason", .string),
            4: F("message", .string),
            5: F("source", .message("core.EventSource")),
            6: F("firstTimestamp", .time),
            7: F("lastTimestamp", .time),
            8: F("count", .int),
            9: F("type", .string),
            10: F("eventTime", .time),            // MicroTime
            11: F("series", .message("core.EventSeries")),
            12: F("action", .string),
            13: F("related", .message("core.ObjectReference")),
            14: F("reportingComponent", .string),
            15: F("reportingInstance", .string),
        ],
        "core.EventSource": [
            1: F("component", .string),
            2: F("host", .string),
        ],
        "core.EventSeries": [
            1: F("count", .int),
            2: F("lastObservedTime", .time),      // MicroTime
        ],
    ]

    // MARK: k8s.io.api.rbac.v1 and k8s.io.api.authentication.v1 (kubectl create role/rolebinding/token)

    // MARK: k8s.io.api.autoscaling.v1 (a view of the stored v2 objects: VersionConversion)

    private static let autoscalingV1: [String: [Int: ProtoField]] = [
        "autoscalingv1.HorizontalPodAutoscaler": [1: F("metadata", .message("meta.ObjectMeta")),
                                                  2: F("spec", .message("autoscalingv1.HorizontalPodAutoscalerSpec")),
                                                  3: F("status", .message("autoscalingv1.HorizontalPodAutoscalerStatus"))],
        "autoscalingv1.HorizontalPodAutoscalerSpec": [1: F("scaleTargetRef", .message("autoscalingv1.CrossVersionObjectReference")),
                                                      2: F("minReplicas", .int), 3: F("maxReplicas", .int),
                                                      4: F("targetCPUUtilizationPercentage", .int)],
        "autoscalingv1.CrossVersionObjectReference": [1: F("kind", .string), 2: F("name", .string), 3: F("apiVersion", .string)],
        "autoscalingv1.HorizontalPodAutoscalerStatus": [1: F("observedGeneration", .int), 2: F("lastScaleTime", .time),
                                                        3: F("currentReplicas", .int), 4: F("desiredReplicas", .int),
                                                        5: F("currentCPUUtilizationPercentage", .int)],
    ]

    private static let auth: [String: [Int: ProtoField]] = [
        // Role and ClusterRole share the shape (ClusterRole's aggregationRule, 3, is not served).
        "rbac.Role": [1: F("metadata", .message("meta.ObjectMeta")), 2: F("rules", .message("rbac.PolicyRule"), repeated: true), 3: F("aggregationRule", .skip)],
        "rbac.PolicyRule": [
            1: F("verbs", .string, repeated: true), 2: F("apiGroups", .string, repeated: true), 3: F("resources", .string, repeated: true),
            4: F("resourceNames", .string, repeated: true), 5: F("nonResourceURLs", .string, repeated: true),
        ],
        "rbac.RoleBinding": [1: F("metadata", .message("meta.ObjectMeta")), 2: F("subjects", .message("rbac.Subject"), repeated: true),
                             3: F("roleRef", .message("rbac.RoleRef"))],
        "rbac.Subject": [1: F("kind", .string), 2: F("apiGroup", .string), 3: F("name", .string), 4: F("namespace", .string)],
        "rbac.RoleRef": [1: F("apiGroup", .string), 2: F("kind", .string), 3: F("name", .string)],
        "authentication.TokenRequest": [1: F("metadata", .message("meta.ObjectMeta")), 2: F("spec", .message("authentication.TokenRequestSpec")),
                                        3: F("status", .skip)],
        "authentication.TokenRequestSpec": [1: F("audiences", .string, repeated: true), 3: F("boundObjectRef", .message("authentication.BoundObjectReference")),
                                            4: F("expirationSeconds", .int)],
        "authentication.BoundObjectReference": [1: F("kind", .string), 2: F("apiVersion", .string), 3: F("name", .string), 4: F("uid", .string)],
    ]

    // MARK: k8s.io.api.apps.v1

    private static let apps: [String: [Int: ProtoField]] = [
        "apps.Deployment": [
            1: F("metadata", .message("meta.ObjectMeta")),
            2: F("spec", .message("apps.DeploymentSpec")),
            3: F("status", .message("apps.DeploymentStatus")),
        ],
        "apps.DeploymentSpec": [
            1: F("replicas", .int),
            2: F("selector", .message("meta.LabelSelector")),
            3: F("template", .message("core.PodTemplateSpec")),
            4: F("strategy", .message("apps.DeploymentStrategy")),
            5: F("minReadySeconds", .int),
            6: F("revisionHistoryLimit", .int),
            7: F("paused", .bool),
            9: F("progressDeadlineSeconds", .int),
            10: F("podReplacementPolicy", .string),
        ],
        "apps.DeploymentStrategy": [
            1: F("type", .string),
            2: F("rollingUpdate", .message("apps.RollingUpdateDeployment")),
        ],
        "apps.RollingUpdateDeployment": [
            1: F("maxUnavailable", .intOrString),
            2: F("maxSurge", .intOrString),
        ],
        "apps.DeploymentStatus": [
            1: F("observedGeneration", .int),
            2: F("replicas", .int),
            3: F("updatedReplicas", .int),
            7: F("readyReplicas", .int),
            4: F("availableReplicas", .int),
            5: F("unavailableReplicas", .int),
            9: F("terminatingReplicas", .int),
            6: F("conditions", .message("apps.DeploymentCondition"), repeated: true),
            8: F("collisionCount", .int),
        ],
        "apps.DeploymentCondition": [
            1: F("type", .string),
            2: F("status", .string),
            6: F("lastUpdateTime", .time),
            7: F("lastTransitionTime", .time),
            4: F("reason", .string),
            5: F("message", .string),
        ],
        "apps.ReplicaSet": [
            1: F("metadata", .message("meta.ObjectMeta")),
            2: F("spec", .message("apps.ReplicaSetSpec")),
            3: F("status", .message("apps.ReplicaSetStatus")),
        ],
        "apps.ReplicaSetSpec": [
            1: F("replicas", .int),
            4: F("minReadySeconds", .int),
            2: F("selector", .message("meta.LabelSelector")),
            3: F("template", .message("core.PodTemplateSpec")),
        ],
        "apps.ReplicaSetStatus": [
            1: F("replicas", .int),
            2: F("fullyLabeledReplicas", .int),
            4: F("readyReplicas", .int),
            5: F("availableReplicas", .int),
            7: F("terminatingReplicas", .int),
            3: F("observedGeneration", .int),
            6: F("conditions", .message("apps.ReplicaSetCondition"), repeated: true),
        ],
        "apps.ReplicaSetCondition": [
            1: F("type", .string),
            2: F("status", .string),
            3: F("lastTransitionTime", .time),
            4: F("reason", .string),
            5: F("message", .string),
        ],
    ]
}
