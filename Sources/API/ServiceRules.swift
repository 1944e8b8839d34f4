// Services, Endpoints and EndpointSlices. Cluster IPs and node ports are allocated by the
// server (it owns the ranges); these rules default and validate what clients send.

public enum ServiceRules {
    public static let strategy: ResourceStrategy = {
        var s = ResourceStrategy()
        s.hasStatus = true
        s.nameRule = NameValidation.dns1035Label
        s.applyDefaults = { svc in
            withChild(&svc, "spec", create: true) { spec in
                setDefault(&spec, ["type"], "ClusterIP")
                setDefault(&spec, ["sessionAffinity"], "None")
                let type = spec["type"]?.stringValue ?? "ClusterIP"
                if type != "ExternalName" {
                    setDefault(&spec, ["internalTrafficPolicy"], "Cluster")
                    setDefault(&spec, ["ipFamilies"], ["IPv4"])
                    setDefault(&spec, ["ipFamilyPolicy"], "SingleStack")
                }
                if type == "NodePort" || type == "LoadBalancer" { setDefault(&spec, ["externalTrafficPolicy"], "Cluster") }
                forEachElement(&spec, "ports") { port in
                    setDefault(&port, ["protocol"], "TCP")
                    if port["nodePort"]?.intValue == 0 { port["nodePort"] = nil }   // protobuf clients send unset as 0
                    if let p = port["port"], port["targetPort"] == nil { port["targetPort"] = p }
                }
            }
            withChild(&svc, "status", create: true) { setDefault(&$0, ["loadBalancer"], .object(JSONObject())) }
        }
        s.validate = { svc in
            guard let spec = svc["spec"] else { return [FieldError(.required, field: "spec", detail: "")] }
            var errs: [FieldError] = []
            checkOneOf(spec, "type", path: "spec", ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"], into: &errs)
            checkOneOf(spec, "sessionAffinity", path: "spec", ["ClientIP", "None"], into: &errs)
            let type = spec["type"]?.stringValue ?? "ClusterIP"
            let ports = spec["ports"]?.arrayValue ?? []
            if type != "ExternalName", ports.isEmpty, spec["clusterIP"]?.stringValue != "None" {
                errs.append(FieldError(.required, field: "spec.ports", detail: ""))
            }
            var names = Set<String>()
            for (i, p) in ports.enumerated() {
                let path = "spec.ports[\(i)]"
                errs += PodRules.validatePort(p, key: "port", path: path, required: true)
                checkOneOf(p, "protocol", path: path, ["SCTP", "TCP", "UDP"], into: &errs)
                let name = p["name"]?.stringValue ?? ""
                if ports.count > 1 && name.isEmpty { errs.append(FieldError(.required, field: path + ".name", detail: "")) }
                if !name.isEmpty {
                    errs += NameValidation.dns1123Label(name, field: path + ".name")
                    if !names.insert(name).inserted { errs.append(FieldError(.duplicate, field: path + ".name", value: name, detail: "")) }
                }
                if let np = p["nodePort"], !np.isNull, np.intValue != 0 {   // 0 means unset, as in Kubernetes
                    // (Its range is the server's --service-node-port-range: the allocator checks it.)
                    if type != "NodePort" && type != "LoadBalancer" {
                        errs.append(FieldError(.forbidden, field: path + ".nodePort", detail: "may not be used when `type` is '\(type)'"))
                    }
                }
                if let t = p["targetPort"] {
                    if let n = t.intValue, !(1...65535).contains(n) {
                        errs.append(FieldError(.invalid, field: path + ".targetPort", value: String(n), detail: "must be between 1 and 65535, inclusive"))
                    } else if let s = t.stringValue {
                        errs += NameValidation.portName(s, field: path + ".targetPort")
                    }
                }
            }
            errs += validateLabelMap(spec["selector"], path: "spec.selector")
            if type == "ExternalName" { _ = requireString(spec, "externalName", path: "spec", into: &errs) }
            return errs
        }
        s.validateUpdate = { new, old in
            let o = old["spec"]?["clusterIP"]?.stringValue ?? ""
            let n = new["spec"]?["clusterIP"]?.stringValue ?? ""
            if !o.isEmpty && n != o {
                return [FieldError(.invalid, field: "spec.clusterIP", value: n, detail: "field is immutable")]
            }
            return []
        }
        return s
    }()

    public static let endpoints: ResourceStrategy = {
        var s = ResourceStrategy()
        s.validate = { ep in
            var errs: [FieldError] = []
            for (i, subset) in (ep["subsets"]?.arrayValue ?? []).enumerated() {
                for (j, p) in (subset["ports"]?.arrayValue ?? []).enumerated() {
                    errs += PodRules.validatePort(p, key: "port", path: "subsets[\(i)].ports[\(j)]", required: true)
                }
                for (j, a) in (subset["addresses"]?.arrayValue ?? []).enumerated() {
                    _ = requireString(a, "ip", path: "subsets[\(i)].addresses[\(j)]", into: &errs)
                }
            }
            return errs
        }
        s.applyDefaults = { ep in
            forEachElement(&ep, "subsets") { subset in forEachElement(&subset, "ports") { setDefault(&$0, ["protocol"], "TCP") } }
        }
        return s
    }()

    public static let endpointSlice: ResourceStrategy = {
        var s = ResourceStrategy()
        s.validate = { es in
            var errs: [FieldError] = []
            if let t = requireString(es, "addressType", path: "", into: &errs), !["IPv4", "IPv6", "FQDN"].contains(t) {
                errs.append(FieldError(.notSupported, field: "addressType", value: t, detail: "supported values: \"FQDN\", \"IPv4\", \"IPv6\""))
            }
            return errs.map { $0.field.hasPrefix(".") ? FieldError($0.kind, field: String($0.field.dropFirst()), value: $0.value, detail: $0.detail) : $0 }
        }
        s.applyDefaults = { es in forEachElement(&es, "ports") { setDefault(&$0, ["protocol"], "TCP") } }
        return s
    }()
}
