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
    ]

    /// Message name → field number → field.
    public static let messages: [String: [Int: ProtoField]] =
        meta.merging(core) { a, _ in a }.merging(pod) { a, _ in a }.merging(apps) { a, _ in a }.merging(auth) { a, _ in a }

    private typealias F = ProtoField
    private static let stringMap: ProtoType = .map(.string, .string)
    private static let bytesMap: ProtoType = .map(.string, .bytes)
    private static let quantityMap: ProtoType = .map(.string, .quantity)

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

    // MARK: k8s.io.api.core.v1: Pod, PodSpec, PodStatus, containers and what they reference

    private static let pod: [String: [Int: ProtoField]] = [
        "core.Pod": [
            1: F("metadata", .message("meta.ObjectMeta")),
            2: F("spec", .message("core.PodSpec")),
            3: F("status", .message("core.PodStatus")),
        ],
        "core.PodTemplateSpec": [
            1: F("metadata", .message("meta.ObjectMeta")),
            2: F("spec", .message("core.PodSpec")),
        ],
        "core.PodSpec": [
            1: F("volumes", .message("core.Volume"), repeated: true),
            20: F("initContainers", .message("core.Container"), repeated: true),
            2: F("containers", .message("core.Container"), repeated: true),
            34: F("ephemeralContainers", .skip, repeated: true),   // inline EphemeralContainerCommon
            3: F("restartPolicy", .string),
            4: F("terminationGracePeriodSeconds", .int),
            5: F("activeDeadlineSeconds", .int),
            6: F("dnsPolicy", .string),
            7: F("nodeSelector", stringMap),
            8: F("serviceAccountName", .string),
            9: F("serviceAccount", .string),
            21: F("automountServiceAccountToken", .bool),
            10: F("nodeName", .string),
            11: F("hostNetwork", .bool),
            12: F("hostPID", .bool),
            13: F("hostIPC", .bool),
            27: F("shareProcessNamespace", .bool),
            14: F("securityContext", .message("core.PodSecurityContext")),
            15: F("imagePullSecrets", .message("core.LocalObjectReference"), repeated: true),
            16: F("hostname", .string),
            17: F("subdomain", .string),
            18: F("affinity", .message("core.Affinity")),
            19: F("schedulerName", .string),
            22: F("tolerations", .message("core.Toleration"), repeated: true),
            23: F("hostAliases", .message("core.HostAlias"), repeated: true),
            24: F("priorityClassName", .string),
            25: F("priority", .int),
            26: F("dnsConfig", .message("core.PodDNSConfig")),
            28: F("readinessGates", .message("core.PodReadinessGate"), repeated: true),
            29: F("runtimeClassName", .string),
            30: F("enableServiceLinks", .bool),
            31: F("preemptionPolicy", .string),
            32: F("overhead", quantityMap),
            33: F("topologySpreadConstraints", .message("core.TopologySpreadConstraint"), repeated: true),
            35: F("setHostnameAsFQDN", .bool),
            36: F("os", .message("core.PodOS")),
            37: F("hostUsers", .bool),
            38: F("schedulingGates", .message("core.PodSchedulingGate"), repeated: true),
            39: F("resourceClaims", .message("core.PodResourceClaim"), repeated: true),
            40: F("resources", .message("core.ResourceRequirements")),
            41: F("hostnameOverride", .string),
            42: F("workloadRef", .message("core.WorkloadReference")),
        ],
        "core.PodStatus": [
            17: F("observedGeneration", .int),
            1: F("phase", .string),
            2: F("conditions", .message("core.PodCondition"), repeated: true),
            3: F("message", .string),
            4: F("reason", .string),
            11: F("nominatedNodeName", .string),
            5: F("hostIP", .string),
            16: F("hostIPs", .message("core.HostIP"), repeated: true),
            6: F("podIP", .string),
            12: F("podIPs", .message("core.PodIP"), repeated: true),
            7: F("startTime", .time),
            10: F("initContainerStatuses", .message("core.ContainerStatus"), repeated: true),
            8: F("containerStatuses", .message("core.ContainerStatus"), repeated: true),
            9: F("qosClass", .string),
            13: F("ephemeralContainerStatuses", .message("core.ContainerStatus"), repeated: true),
            14: F("resize", .string),
            15: F("resourceClaimStatuses", .skip, repeated: true),
            18: F("extendedResourceClaimStatus", .skip),
            19: F("allocatedResources", quantityMap),
            20: F("resources", .message("core.ResourceRequirements")),
        ],
        "core.PodCondition": [
            1: F("type", .string),
            7: F("observedGeneration", .int),
            2: F("status", .string),
            3: F("lastProbeTime", .time),
            4: F("lastTransitionTime", .time),
            5: F("reason", .string),
            6: F("message", .string),
        ],
        "core.HostIP": [
            1: F("ip", .string),
        ],
        "core.PodIP": [
            1: F("ip", .string),
        ],
        "core.ContainerStatus": [
            1: F("name", .string),
            2: F("state", .message("core.ContainerState")),
            3: F("lastState", .message("core.ContainerState")),
            4: F("ready", .bool),
            5: F("restartCount", .int),
            6: F("image", .string),
            7: F("imageID", .string),
            8: F("containerID", .string),
            9: F("started", .bool),
            10: F("allocatedResources", quantityMap),
            11: F("resources", .message("core.ResourceRequirements")),
            12: F("volumeMounts", .message("core.VolumeMountStatus"), repeated: true),
            13: F("user", .skip),
            14: F("allocatedResourcesStatus", .skip, repeated: true),
            15: F("stopSignal", .string),
        ],
        "core.ContainerState": [
            1: F("waiting", .message("core.ContainerStateWaiting")),
            2: F("running", .message("core.ContainerStateRunning")),
            3: F("terminated", .message("core.ContainerStateTerminated")),
        ],
        "core.ContainerStateWaiting": [
            1: F("reason", .string),
            2: F("message", .string),
        ],
        "core.ContainerStateRunning": [
            1: F("startedAt", .time),
        ],
        "core.ContainerStateTerminated": [
            1: F("exitCode", .int),
            2: F("signal", .int),
            3: F("reason", .string),
            4: F("message", .string),
            5: F("startedAt", .time),
            6: F("finishedAt", .time),
            7: F("containerID", .string),
        ],
        "core.VolumeMountStatus": [
            1: F("name", .string),
            2: F("mountPath", .string),
            3: F("readOnly", .bool),
            4: F("recursiveReadOnly", .string),
            5: F("volumeStatus", .skip),
        ],
        "core.Container": [
            1: F("name", .string),
            2: F("image", .string),
            3: F("command", .string, repeated: true),
            4: F("args", .string, repeated: true),
            5: F("workingDir", .string),
            6: F("ports", .message("core.ContainerPort"), repeated: true),
            19: F("envFrom", .skip, repeated: true),          // EnvFromSource: inline LocalObjectReference
            7: F("env", .message("core.EnvVar"), repeated: true),
            8: F("resources", .message("core.ResourceRequirements")),
            23: F("resizePolicy", .message("core.ContainerResizePolicy"), repeated: true),
            24: F("restartPolicy", .string),
            25: F("restartPolicyRules", .message("core.ContainerRestartRule"), repeated: true),
            9: F("volumeMounts", .message("core.VolumeMount"), repeated: true),
            21: F("volumeDevices", .message("core.VolumeDevice"), repeated: true),
            10: F("livenessProbe", .skip),                     // Probe: inline ProbeHandler
            11: F("readinessProbe", .skip),
            22: F("startupProbe", .skip),
            12: F("lifecycle", .message("core.Lifecycle")),
            13: F("terminationMessagePath", .string),
            20: F("terminationMessagePolicy", .string),
            14: F("imagePullPolicy", .string),
            15: F("securityContext", .message("core.SecurityContext")),
            16: F("stdin", .bool),
            17: F("stdinOnce", .bool),
            18: F("tty", .bool),
        ],
        "core.ContainerPort": [
            1: F("name", .string),
            2: F("hostPort", .int),
            3: F("containerPort", .int),
            4: F("protocol", .string),
            5: F("hostIP", .string),
        ],
        "core.EnvVar": [
            1: F("name", .string),
            2: F("value", .string),
            3: F("valueFrom", .skip),                          // EnvVarSource: inline LocalObjectReference
        ],
        "core.ResourceRequirements": [
            1: F("limits", quantityMap),
            2: F("requests", quantityMap),
            3: F("claims", .message("core.ResourceClaim"), repeated: true),
        ],
        "core.ResourceClaim": [
            1: F("name", .string),
            2: F("request", .string),
        ],
        "core.ContainerResizePolicy": [
            1: F("resourceName", .string),
            2: F("restartPolicy", .string),
        ],
        "core.ContainerRestartRule": [
            1: F("action", .string),
            2: F("exitCodes", .message("core.ContainerRestartRuleOnExitCodes")),
        ],
        "core.ContainerRestartRuleOnExitCodes": [
            1: F("operator", .string),
            2: F("values", .int, repeated: true),
        ],
        "core.VolumeMount": [
            1: F("name", .string),
            2: F("readOnly", .bool),
            7: F("recursiveReadOnly", .string),
            3: F("mountPath", .string),
            4: F("subPath", .string),
            5: F("mountPropagation", .string),
            6: F("subPathExpr", .string),
        ],
        "core.VolumeDevice": [
            1: F("name", .string),
            2: F("devicePath", .string),
        ],
        "core.Volume": [
            1: F("name", .string),
            2: F("volumeSource", .skip),                       // VolumeSource is inline in JSON
        ],
        "core.Lifecycle": [
            1: F("postStart", .message("core.LifecycleHandler")),
            2: F("preStop", .message("core.LifecycleHandler")),
            3: F("stopSignal", .string),
        ],
        "core.LifecycleHandler": [
            1: F("exec", .message("core.ExecAction")),
            2: F("httpGet", .message("core.HTTPGetAction")),
            3: F("tcpSocket", .message("core.TCPSocketAction")),
            4: F("sleep", .message("core.SleepAction")),
        ],
        "core.ExecAction": [
            1: F("command", .string, repeated: true),
        ],
        "core.HTTPGetAction": [
            1: F("path", .string),
            2: F("port", .intOrString),
            3: F("host", .string),
            4: F("scheme", .string),
            5: F("httpHeaders", .message("core.HTTPHeader"), repeated: true),
        ],
        "core.HTTPHeader": [
            1: F("name", .string),
            2: F("value", .string),
        ],
        "core.TCPSocketAction": [
            1: F("port", .intOrString),
            2: F("host", .string),
        ],
        "core.SleepAction": [
            1: F("seconds", .int),
        ],
        "core.SecurityContext": [
            1: F("capabilities", .message("core.Capabilities")),
            2: F("privileged", .bool),
            3: F("seLinuxOptions", .message("core.SELinuxOptions")),
            10: F("windowsOptions", .message("core.WindowsSecurityContextOptions")),
            4: F("runAsUser", .int),
            8: F("runAsGroup", .int),
            5: F("runAsNonRoot", .bool),
            6: F("readOnlyRootFilesystem", .bool),
            7: F("allowPrivilegeEscalation", .bool),
            9: F("procMount", .string),
            11: F("seccompProfile", .message("core.SeccompProfile")),
            12: F("appArmorProfile", .message("core.AppArmorProfile")),
            13: F("ulimits", .message("core.Ulimit"), repeated: true),
        ],
        "core.PodSecurityContext": [
            1: F("seLinuxOptions", .message("core.SELinuxOptions")),
            8: F("windowsOptions", .message("core.WindowsSecurityContextOptions")),
            2: F("runAsUser", .int),
            6: F("runAsGroup", .int),
            3: F("runAsNonRoot", .bool),
            4: F("supplementalGroups", .int, repeated: true),
            12: F("supplementalGroupsPolicy", .string),
            5: F("fsGroup", .int),
            7: F("sysctls", .message("core.Sysctl"), repeated: true),
            9: F("fsGroupChangePolicy", .string),
            10: F("seccompProfile", .message("core.SeccompProfile")),
            11: F("appArmorProfile", .message("core.AppArmorProfile")),
            13: F("seLinuxChangePolicy", .string),
        ],
        "core.Capabilities": [
            1: F("add", .string, repeated: true),
            2: F("drop", .string, repeated: true),
        ],
        "core.SELinuxOptions": [
            1: F("user", .string),
            2: F("role", .string),
            3: F("type", .string),
            4: F("level", .string),
        ],
        "core.WindowsSecurityContextOptions": [
            1: F("gmsaCredentialSpecName", .string),
            2: F("gmsaCredentialSpec", .string),
            3: F("runAsUserName", .string),
            4: F("hostProcess", .bool),
        ],
        "core.SeccompProfile": [
            1: F("type", .string),
            2: F("localhostProfile", .string),
        ],
        "core.AppArmorProfile": [
            1: F("type", .string),
            2: F("localhostProfile", .string),
        ],
        "core.Ulimit": [
            1: F("name", .string),
            2: F("hard", .int),
            3: F("soft", .int),
        ],
        "core.Sysctl": [
            1: F("name", .string),
            2: F("value", .string),
        ],
        "core.Affinity": [
            1: F("nodeAffinity", .message("core.NodeAffinity")),
            2: F("podAffinity", .message("core.PodAffinity")),
            3: F("podAntiAffinity", .message("core.PodAntiAffinity")),
        ],
        "core.NodeAffinity": [
            1: F("requiredDuringSchedulingIgnoredDuringExecution", .message("core.NodeSelector")),
            2: F("preferredDuringSchedulingIgnoredDuringExecution", .message("core.PreferredSchedulingTerm"), repeated: true),
        ],
        "core.NodeSelector": [
            1: F("nodeSelectorTerms", .message("core.NodeSelectorTerm"), repeated: true),
        ],
        "core.NodeSelectorTerm": [
            1: F("matchExpressions", .message("core.NodeSelectorRequirement"), repeated: true),
            2: F("matchFields", .message("core.NodeSelectorRequirement"), repeated: true),
        ],
        "core.NodeSelectorRequirement": [
            1: F("key", .string),
            2: F("operator", .string),
            3: F("values", .string, repeated: true),
        ],
        "core.PreferredSchedulingTerm": [
            1: F("weight", .int),
            2: F("preference", .message("core.NodeSelectorTerm")),
        ],
        "core.PodAffinity": [
            1: F("requiredDuringSchedulingIgnoredDuringExecution", .message("core.PodAffinityTerm"), repeated: true),
            2: F("preferredDuringSchedulingIgnoredDuringExecution", .message("core.WeightedPodAffinityTerm"), repeated: true),
        ],
        "core.PodAntiAffinity": [
            1: F("requiredDuringSchedulingIgnoredDuringExecution", .message("core.PodAffinityTerm"), repeated: true),
            2: F("preferredDuringSchedulingIgnoredDuringExecution", .message("core.WeightedPodAffinityTerm"), repeated: true),
        ],
        "core.PodAffinityTerm": [
            1: F("labelSelector", .message("meta.LabelSelector")),
            2: F("namespaces", .string, repeated: true),
            3: F("topologyKey", .string),
            4: F("namespaceSelector", .message("meta.LabelSelector")),
            5: F("matchLabelKeys", .string, repeated: true),
            6: F("mismatchLabelKeys", .string, repeated: true),
        ],
        "core.WeightedPodAffinityTerm": [
            1: F("weight", .int),
            2: F("podAffinityTerm", .message("core.PodAffinityTerm")),
        ],
        "core.Toleration": [
            1: F("key", .string),
            2: F("operator", .string),
            3: F("value", .string),
            4: F("effect", .string),
            5: F("tolerationSeconds", .int),
        ],
        "core.HostAlias": [
            1: F("ip", .string),
            2: F("hostnames", .string, repeated: true),
        ],
        "core.PodDNSConfig": [
            1: F("nameservers", .string, repeated: true),
            2: F("searches", .string, repeated: true),
            3: F("options", .message("core.PodDNSConfigOption"), repeated: true),
        ],
        "core.PodDNSConfigOption": [
            1: F("name", .string),
            2: F("value", .string),
        ],
        "core.PodReadinessGate": [
            1: F("conditionType", .string),
        ],
        "core.TopologySpreadConstraint": [
            1: F("maxSkew", .int),
            2: F("topologyKey", .string),
            3: F("whenUnsatisfiable", .string),
            4: F("labelSelector", .message("meta.LabelSelector")),
            5: F("minDomains", .int),
            6: F("nodeAffinityPolicy", .string),
            7: F("nodeTaintsPolicy", .string),
            8: F("matchLabelKeys", .string, repeated: true),
        ],
        "core.PodOS": [
            1: F("name", .string),
        ],
        "core.PodSchedulingGate": [
            1: F("name", .string),
        ],
        "core.PodResourceClaim": [
            1: F("name", .string),
            3: F("resourceClaimName", .string),
            4: F("resourceClaimTemplateName", .string),
        ],
        "core.WorkloadReference": [
            1: F("name", .string),
            2: F("podGroup", .string),
            3: F("podGroupReplicaKey", .string),
        ],
    ]

    // MARK: k8s.io.api.apps.v1

    // MARK: k8s.io.api.rbac.v1 and k8s.io.api.authentication.v1 (kubectl create role/rolebinding/token)

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
