// The ServiceAccount admission plugin's pod changes (plugin/pkg/admission/serviceaccount), as
// pure functions: the account name defaulted to "default", whether the API credentials are
// mounted (the pod's automountServiceAccountToken wins over the account's), and the projected
// `kube-api-access-*` volume (a bound token, the cluster CA, the namespace) mounted read-only at
// /var/run/secrets/kubernetes.io/serviceaccount in every container that has nothing there yet.
// The API server looks the account up and calls these before it stores a new pod.

public enum ServiceAccountAdmission {
    public static let defaultName = "default"
    public static let mountPath = "/var/run/secrets/kubernetes.io/serviceaccount"
    public static let volumePrefix = "kube-api-access-"
    public static let rootCAConfigMap = "kube-root-ca.crt"
    public static let mirrorAnnotation = "kubernetes.io/config.mirror"
    /// A little over an hour (kube-apiserver's WarnOnlyBoundTokenExpirationSeconds): the agent refreshes it.
    public static let tokenExpirationSeconds: Int64 = 3607

    /// Mirror pods show a static pod as the node runs it: their spec is not changed.
    public static func isMirror(_ pod: JSONValue) -> Bool { pod["metadata"]?["annotations"]?[mirrorAnnotation] != nil }

    /// Sets spec.serviceAccountName (from the deprecated spec.serviceAccount, else "default") and
    /// mirrors it into spec.serviceAccount, as the v1 conversion does; returns the name.
    @discardableResult
    public static func defaultServiceAccount(_ pod: inout JSONValue) -> String {
        let spec = pod["spec"] ?? .null
        let given = [spec["serviceAccountName"]?.stringValue, spec["serviceAccount"]?.stringValue].compactMap { $0 }.first { !$0.isEmpty }
        let name = given ?? defaultName
        withChild(&pod, "spec", create: true) { spec in
            spec["serviceAccountName"] = .string(name)
            spec["serviceAccount"] = .string(name)
        }
        return name
    }

    /// The pod's automountServiceAccountToken, else the account's, else true.
    public static func shouldAutomount(pod: JSONValue, serviceAccount: JSONValue) -> Bool {
        pod["spec"]?["automountServiceAccountToken"]?.boolValue ?? serviceAccount["automountServiceAccountToken"]?.boolValue ?? true
    }

    /// The projected volume with the account's credentials.
    public static func tokenVolume(name: String) -> JSONValue {
        ["name": .string(name), "projected": [
            "defaultMode": 420,
            "sources": [
                ["serviceAccountToken": ["expirationSeconds": .int(tokenExpirationSeconds), "path": "token"]],
                ["configMap": ["name": .string(rootCAConfigMap), "items": [["key": "ca.crt", "path": "ca.crt"]]]],
                ["downwardAPI": ["items": [["path": "namespace", "fieldRef": ["apiVersion": "v1", "fieldPath": "metadata.namespace"]]]]],
            ],
        ]]
    }

    /// Mounts the credentials in every init and app container without a mount at `mountPath`,
    /// adding the volume (named `kube-api-access-<suffix>`) if one was mounted and the pod has
    /// no such volume yet. Returns whether the pod changed.
    @discardableResult
    public static func mountToken(_ pod: inout JSONValue, suffix: String) -> Bool {
        let volumes = pod["spec"]?["volumes"]?.arrayValue ?? []
        let existing = volumes.first { ($0["name"]?.stringValue ?? "").hasPrefix(volumePrefix) }
        let volumeName = existing?["name"]?.stringValue ?? volumePrefix + suffix
        let mount: JSONValue = ["name": .string(volumeName), "readOnly": true, "mountPath": .string(mountPath)]
        var mounted = false
        withChild(&pod, "spec", create: true) { spec in
            for key in ["initContainers", "containers"] {
                forEachElement(&spec, key) { c in
                    var mounts = c["volumeMounts"]?.arrayValue ?? []
                    guard !mounts.contains(where: { $0["mountPath"]?.stringValue == mountPath }) else { return }
                    mounts.append(mount)
                    c["volumeMounts"] = .array(mounts)
                    mounted = true
                }
            }
            if mounted && existing == nil { spec["volumes"] = .array(volumes + [tokenVolume(name: volumeName)]) }
        }
        return mounted
    }

    /// A pod without imagePullSecrets gets its account's.
    public static func addImagePullSecrets(_ pod: inout JSONValue, from serviceAccount: JSONValue) {
        let theirs = (serviceAccount["imagePullSecrets"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
        guard !theirs.isEmpty, (pod["spec"]?["imagePullSecrets"]?.arrayValue ?? []).isEmpty else { return }
        pod["spec"]?["imagePullSecrets"] = .array(theirs.map { ["name": .string($0)] })
    }
}
