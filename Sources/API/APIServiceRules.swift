// apiregistration.k8s.io/v1 APIService: kube-aggregator's validation, and the object announcing
// the resource metrics API (served by the master itself, so Local and always Available).
import Foundation

public enum APIServiceRules {
    public static let strategy: ResourceStrategy = {
        var s = ResourceStrategy()
        s.hasStatus = true
        s.nameRule = NameValidation.pathSegment
        s.validate = { o in validate(APIService(json: o)) }
        return s
    }()

    static func validate(_ a: APIService) -> [FieldError] {
        let spec = a.spec
        let group = spec.group ?? "", version = spec.version ?? ""
        var errs: [FieldError] = []
        let required = version + "." + group
        if a.name != required {
            errs.append(FieldError(.invalid, field: "metadata.name", value: a.name, detail: "must be `spec.version+\".\"+spec.group`: \"\(required)\""))
        }
        if group.isEmpty && version != "v1" {
            errs.append(FieldError(.required, field: "spec.group", detail: "only v1 may have an empty group and it better be legacy kube"))
        }
        if !group.isEmpty { errs += NameValidation.dns1123Subdomain(group, field: "spec.group") }
        errs += NameValidation.dns1035Label(version, field: "spec.version")
        let groupPriority = spec.groupPriorityMinimum ?? 0, versionPriority = spec.versionPriority ?? 0
        if groupPriority <= 0 || groupPriority > 20000 {
            errs.append(FieldError(.invalid, field: "spec.groupPriorityMinimum", value: String(groupPriority),
                                   detail: "must be positive and less than 20000", rawValue: true))
        }
        if versionPriority <= 0 || versionPriority > 1000 {
            errs.append(FieldError(.invalid, field: "spec.versionPriority", value: String(versionPriority),
                                   detail: "must be positive and less than 1000", rawValue: true))
        }
        let hasCABundle = !(spec.caBundle ?? "").isEmpty
        guard spec.service.isSet else {
            if hasCABundle {
                errs.append(FieldError(.invalid, field: "spec.caBundle", value: "...", detail: "local APIServices may not have a caBundle", rawValue: true))
            }
            if spec.insecureSkipTLSVerify == true {
                errs.append(FieldError(.invalid, field: "spec.insecureSkipTLSVerify", value: "true",
                                       detail: "local APIServices may not have insecureSkipTLSVerify", rawValue: true))
            }
            return errs
        }
        if (spec.service.namespace ?? "").isEmpty { errs.append(FieldError(.required, field: "spec.service.namespace", detail: "")) }
        if (spec.service.name ?? "").isEmpty { errs.append(FieldError(.required, field: "spec.service.name", detail: "")) }
        if let port = spec.service.port, port < 1 || port > 65535 {
            errs.append(FieldError(.invalid, field: "spec.service.port", value: String(port),
                                   detail: "must be a valid port number (1-65535, inclusive)", rawValue: true))
        }
        if spec.insecureSkipTLSVerify == true && hasCABundle {
            errs.append(FieldError(.invalid, field: "spec.insecureSkipTLSVerify", value: "true",
                                   detail: "may not be true if caBundle is present", rawValue: true))
        }
        return errs
    }

    /// v1beta1.metrics.k8s.io as a local APIService (metrics-server's priorities), Available.
    public static func metricsAPIService(now: Date = Date()) -> APIService {
        var a = APIService.new(name: "v1beta1.metrics.k8s.io")
        a.metadata.labels = ["kubernetes.io/bootstrapping": "skiff"]
        a.spec.group = "metrics.k8s.io"
        a.spec.version = "v1beta1"
        a.spec.groupPriorityMinimum = 100
        a.spec.versionPriority = 100
        var available = APIServiceCondition()
        available.type = "Available"
        available.status = .true
        available.lastTransitionTime = now
        available.reason = "Local"
        available.message = "Local APIServices are always available"
        a.status.conditions = [available]
        return a
    }
}
