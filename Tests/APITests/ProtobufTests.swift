import API
import Foundation
import Testing

/// Builds protobuf bytes by hand: tags, varints and length-delimited fields.
private struct ProtoWriter {
    var out: [UInt8] = []

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 { out.append(UInt8(v & 0x7f) | 0x80); v >>= 7 }
        out.append(UInt8(v))
    }
    mutating func tag(_ field: Int, wire: Int) { varint(UInt64(field << 3 | wire)) }
    mutating func int(_ field: Int, _ value: Int64) { tag(field, wire: 0); varint(UInt64(bitPattern: value)) }
    mutating func bool(_ field: Int, _ value: Bool) { int(field, value ? 1 : 0) }
    mutating func bytes(_ field: Int, _ value: [UInt8]) { tag(field, wire: 2); varint(UInt64(value.count)); out += value }
    mutating func string(_ field: Int, _ value: String) { bytes(field, Array(value.utf8)) }
    mutating func message(_ field: Int, _ build: (inout ProtoWriter) -> Void = { _ in }) {
        var sub = ProtoWriter()
        build(&sub)
        bytes(field, sub.out)
    }
    /// map<string, string> entry {1: key, 2: value}.
    mutating func entry(_ field: Int, _ key: String, _ value: String) {
        message(field) { $0.string(1, key); $0.string(2, value) }
    }

    /// "k8s\0" + runtime.Unknown{typeMeta{apiVersion, kind}, raw, contentEncoding, contentType}.
    static func envelope(apiVersion: String, kind: String, _ build: (inout ProtoWriter) -> Void) -> [UInt8] {
        var w = ProtoWriter()
        w.message(1) { $0.string(1, apiVersion); $0.string(2, kind) }
        w.message(2, build)
        w.string(3, "")
        w.string(4, "")
        return [0x6b, 0x38, 0x73, 0x00] + w.out
    }
}

@Suite struct ProtobufTests {
    /// `kubectl create configmap x --from-literal=a=b` (kubectl 1.33), as captured on the wire.
    static let configMapBody: [UInt8] = [
        0x6b, 0x38, 0x73, 0x00,                                     // "k8s\0"
        0x0a, 0x0f,                                                 // Unknown.typeMeta (15)
        0x0a, 0x02, 0x76, 0x31,                                     //   apiVersion "v1"
        0x12, 0x09, 0x43, 0x6f, 0x6e, 0x66, 0x69, 0x67, 0x4d, 0x61, 0x70, //   kind "ConfigMap"
        0x12, 0x1b,                                                 // Unknown.raw (27): ConfigMap
        0x0a, 0x11,                                                 //   1 metadata (17): ObjectMeta
        0x0a, 0x01, 0x78,                                           //     1 name "x"
        0x12, 0x00, 0x1a, 0x00, 0x22, 0x00, 0x2a, 0x00, 0x32, 0x00, //     2..6 empty strings
        0x38, 0x00,                                                 //     7 generation 0
        0x42, 0x00,                                                 //     8 creationTimestamp (zero)
        0x12, 0x06, 0x0a, 0x01, 0x61, 0x12, 0x01, 0x62,             //   2 data entry {a: b}
        0x1a, 0x00,                                                 // Unknown.contentEncoding ""
        0x22, 0x00,                                                 // Unknown.contentType ""
    ]

    @Test func decodesCapturedKubectlConfigMap() throws {
        #expect(Self.configMapBody.count == 54)
        let obj = try ProtobufDecoder.decodeObject(Self.configMapBody)
        #expect(obj["kind"] == "ConfigMap")
        #expect(obj["apiVersion"] == "v1")
        #expect(obj.value(at: "metadata.name") == "x")
        #expect(obj.value(at: "metadata.namespace") == nil)        // empty strings are omitted
        #expect(obj["data"]?.stringMap == ["a": "b"])
        #expect(obj["binaryData"] == nil)
        #expect(obj.objectValue?.keys.prefix(3) == ["kind", "apiVersion", "metadata"])
    }

    @Test func decodesHandEncodedDeployment() throws {
        let body = ProtoWriter.envelope(apiVersion: "apps/v1", kind: "Deployment") { d in
            d.message(1) { m in                                     // metadata
                m.string(1, "web")
                m.string(3, "default")
                m.entry(11, "app", "web")
            }
            d.message(2) { spec in                                  // DeploymentSpec
                spec.int(1, 3)                                      // replicas
                spec.message(2) { $0.entry(1, "app", "web") }       // selector.matchLabels
                spec.message(3) { tpl in                            // template
                    tpl.message(1) { $0.entry(11, "app", "web") }
                    tpl.message(2) { ps in                          // PodSpec
                        ps.message(2) { c in                        // containers[0]
                            c.string(1, "c")
                            c.string(2, "nginx")
                            c.message(6) { p in p.int(3, 80); p.string(4, "TCP") }
                            c.message(8) { r in                     // resources.limits cpu=500m
                                r.message(1) { e in e.string(1, "cpu"); e.message(2) { $0.string(1, "500m") } }
                            }
                        }
                        ps.string(3, "Always")
                    }
                }
                spec.message(4) { s in                              // strategy
                    s.string(1, "RollingUpdate")
                    s.message(2) { ru in
                        ru.message(1) { $0.int(1, 1); $0.string(3, "25%") }   // maxUnavailable "25%"
                        ru.message(2) { $0.int(1, 0); $0.int(2, 2) }          // maxSurge 2
                    }
                }
            }
            d.message(3)                                            // status {}
        }
        let obj = try ProtobufDecoder.decodeObject(body)
        #expect(obj["kind"] == "Deployment")
        #expect(obj["apiVersion"] == "apps/v1")
        #expect(obj.value(at: "metadata.name") == "web")
        #expect(obj.value(at: "metadata.namespace") == "default")
        #expect(obj.value(at: "metadata.labels")?.stringMap == ["app": "web"])
        #expect(obj.value(at: "spec.replicas") == 3)
        #expect(obj.value(at: "spec.selector.matchLabels")?.stringMap == ["app": "web"])
        #expect(obj.value(at: "spec.template.metadata.labels")?.stringMap == ["app": "web"])
        #expect(obj.value(at: "spec.template.spec.restartPolicy") == "Always")
        let containers = obj.value(at: "spec.template.spec.containers")?.arrayValue ?? []
        try #require(containers.count == 1)
        #expect(containers[0]["name"] == "c")
        #expect(containers[0]["image"] == "nginx")
        #expect(containers[0]["ports"] == [["containerPort": 80, "protocol": "TCP"]])
        #expect(containers[0].value(at: "resources.limits.cpu") == "500m")
        #expect(obj.value(at: "spec.strategy.type") == "RollingUpdate")
        #expect(obj.value(at: "spec.strategy.rollingUpdate.maxUnavailable") == "25%")
        #expect(obj.value(at: "spec.strategy.rollingUpdate.maxSurge") == 2)
        #expect(obj["status"] == .object(JSONObject()))
    }

    @Test func decodesSecretBytesAndServicePorts() throws {
        let secret = ProtoWriter.envelope(apiVersion: "v1", kind: "Secret") { s in
            s.message(1) { $0.string(1, "creds") }
            s.message(2) { $0.string(1, "password"); $0.bytes(2, Array("hunter2".utf8)) }
            s.string(3, "Opaque")
        }
        let sobj = try ProtobufDecoder.decodeObject(secret)
        #expect(sobj.value(at: "data.password") == "aHVudGVyMg==")
        #expect(sobj["type"] == "Opaque")

        let service = ProtoWriter.envelope(apiVersion: "v1", kind: "Service") { s in
            s.message(1) { $0.string(1, "web") }
            s.message(2) { spec in
                spec.message(1) { p in
                    p.string(1, "80-8080"); p.string(2, "TCP"); p.int(3, 80)
                    p.message(4) { $0.int(1, 0); $0.int(2, 8080) }   // targetPort 8080
                }
                spec.entry(2, "app", "web")
                spec.string(4, "ClusterIP")
                spec.string(18, "10.0.0.1")
                spec.string(18, "fd00::1")
            }
        }
        let svc = try ProtobufDecoder.decodeObject(service)
        #expect(svc.value(at: "spec.ports") == [["name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080]])
        #expect(svc.value(at: "spec.selector")?.stringMap == ["app": "web"])
        #expect(svc.value(at: "spec.clusterIPs") == ["10.0.0.1", "fd00::1"])
    }

    @Test func everyKindAndReferencedMessageHasASchema() {
        for (kind, name) in ProtobufSchemas.kinds {
            #expect(ProtobufSchemas.messages[name] != nil, "\(kind) → \(name)")
        }
        func referenced(_ t: ProtoType) -> [String] {
            switch t {
            case .message(let n): return [n]
            case .map(let k, let v): return referenced(k) + referenced(v)
            default: return []
            }
        }
        for (name, fields) in ProtobufSchemas.messages {
            for (number, field) in fields {
                for ref in referenced(field.type) {
                    #expect(ProtobufSchemas.messages[ref] != nil, "\(name).\(field.name) (\(number)) → \(ref)")
                }
            }
        }
    }

    @Test func unsupportedKindIsRefused() {
        let body = ProtoWriter.envelope(apiVersion: "networking.k8s.io/v1", kind: "Ingress") { $0.message(1) { $0.string(1, "i") } }
        #expect(throws: ProtobufError.self) { try ProtobufDecoder.decodeObject(body) }
    }

    /// Job's tables come from Schema/jobs.schema through the generator.
    @Test func jobFromGeneratedTables() throws {
        let body = ProtoWriter.envelope(apiVersion: "batch/v1", kind: "Job") {
            $0.message(1) { $0.string(1, "pi") }
            $0.message(2) { spec in
                spec.int(1, 2)
                spec.string(9, "Indexed")
                spec.message(11) { $0.message(1) { rule in rule.string(1, "FailJob"); rule.message(2) { $0.string(2, "In"); $0.int(3, 42) } } }
            }
        }
        let job = Job(json: try ProtobufDecoder.decodeObject(body))
        #expect(job.name == "pi" && job.spec.parallelism == 2 && job.spec.completionMode == .indexed)
        #expect(job.spec.podFailurePolicy.rules.first?.action == .failJob)
        #expect(job.spec.podFailurePolicy.rules.first?.onExitCodes.values == [42])
    }
}

/// policy/v1 as kubectl 1.33 sends it: `create pdb` and the Eviction `drain` posts.
@Suite struct PolicyProtobufTests {
    @Test func decodesPodDisruptionBudget() throws {
        let body = ProtoWriter.envelope(apiVersion: "policy/v1", kind: "PodDisruptionBudget") { w in
            w.message(1) { $0.string(1, "web"); $0.string(3, "default") }
            w.message(2) { spec in
                spec.message(1) { $0.int(1, 0); $0.int(2, 2) }                        // minAvailable: 2
                spec.message(2) { $0.entry(1, "app", "web") }                         // selector
                spec.string(4, "AlwaysAllow")
            }
            w.message(3) { status in
                status.message(2) { $0.string(1, "p1"); $0.message(2) { $0.int(1, 1_800_000_000) } }   // disruptedPods
                status.int(3, 1)
            }
        }
        let pdb = PodDisruptionBudget(json: try ProtobufDecoder.decodeObject(body))
        #expect(pdb.json["apiVersion"] == "policy/v1" && pdb.json["kind"] == "PodDisruptionBudget")
        #expect(pdb.name == "web" && pdb.spec.minAvailable == .int(2) && pdb.spec.maxUnavailable == nil)
        #expect(pdb.spec.selector.matchLabels == ["app": "web"] && pdb.spec.unhealthyPodEvictionPolicy == .alwaysAllow)
        #expect(pdb.status.disruptedPods == ["p1": Date(timeIntervalSince1970: 1_800_000_000)])
        #expect(pdb.status.disruptionsAllowed == 1)
    }

    @Test(arguments: ["policy/v1", "policy/v1beta1"])
    func decodesEviction(apiVersion: String) throws {
        let body = ProtoWriter.envelope(apiVersion: apiVersion, kind: "Eviction") { w in
            w.message(1) { $0.string(1, "web-1"); $0.string(3, "shop") }
            w.message(2) { opts in
                opts.int(1, 5)
                opts.message(2) { $0.string(1, "uid-1"); $0.string(2, "42") }
                opts.string(5, "All")
            }
        }
        let eviction = Eviction(json: try ProtobufDecoder.decodeObject(body))
        #expect(eviction.json["apiVersion"] == .string(apiVersion))
        #expect(eviction.name == "web-1" && eviction.namespace == "shop")
        #expect(eviction.deleteOptions.gracePeriodSeconds == 5 && eviction.deleteOptions.dryRun == ["All"])
        #expect(eviction.deleteOptions.preconditions.uid == "uid-1" && eviction.deleteOptions.preconditions.resourceVersion == "42")
    }
}
