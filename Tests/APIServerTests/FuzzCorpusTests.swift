// A corpus of malformed requests — broken and hostile JSON, YAML bombs, bad patches, huge and
// deep bodies, invalid UTF-8, path tricks, broken HTTP — against the real master: each gets a
// 4xx answer (or the connection closes), the server never crashes, and stays healthy throughout.
import API
import Foundation
import Testing
import TestSupport

@Suite struct FuzzCorpusTests {
    @Test func malformedRequestsNeverCrashTheServer() throws {
        let m = try MasterProcess()
        defer { m.stop() }
        let c = m.client
        #expect(try c.post("/api/v1/namespaces/default/configmaps", #"{"metadata":{"name":"target"},"data":{"a":"b"}}"#).code == 201)
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        let deepObject = String(repeating: #"{"a":"#, count: 5000) + "1" + String(repeating: "}", count: 5000)
        let bodies: [String] = [
            "", "{", "}", "null", "[]", "\"text\"", "12345678901234567890123456789", "1e999999", "-0", "{\"metadata\":",
            #"{"metadata":{"name":"x"},"data":{"k":1}}"#, #"{"metadata":{"name":["x"]}}"#, #"{"metadata":{"name":"x","namespace":"other"}}"#,
            #"{"metadata":{"name":"x\u0000y"}}"#, #"{"metadata":{"name":"\ud800"}}"#, #"{"kind":"Pod","apiVersion":"v9"}"#,
            deep, deepObject, String(repeating: "{\"a\":[", count: 300) + "1" + String(repeating: "]}", count: 300),
            #"{"metadata":{"name":"x","labels":{"a":"b","a":"c"}}}"#, "\u{FEFF}{}",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: y}\ndata: {k: [unclosed",
            "a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]",
            "--- !!binary\nAAAA", "%YAML 9.9\n---\na: 1",
        ]
        func healthy() -> Bool { (try? c.get("/healthz").code) == 200 }
        var codes: [Int] = []
        for (i, body) in bodies.enumerated() {
            for type in ["application/json", "application/yaml"] {
                let r = try c.request("POST", "/api/v1/namespaces/default/configmaps", body, contentType: type)
                codes.append(r.code)
                #expect(r.code < 500, "body \(i) as \(type): \(r.code) \(r.text.prefix(200))")
            }
            #expect(healthy(), "after body \(i)")
        }
        let patches: [(String, String)] = [
            ("application/json-patch+json", #"[{"op":"remove","path":"/metadata"}]"#),
            ("application/json-patch+json", #"[{"op":"explode","path":"/data"}]"#),
            ("application/json-patch+json", #"[{"op":"add","path":"/data/~2","value":1}]"#),
            ("application/json-patch+json", #"[{"op":"move","from":"/data","path":"/data/a"}]"#),
            ("application/json-patch+json", #"[{"op":"copy","from":"/nope","path":"/x"}]"#),
            ("application/json-patch+json", #"{"not":"a list"}"#),
            ("application/merge-patch+json", #"[1,2,3]"#),
            ("application/merge-patch+json", #"{"metadata":{"name":"renamed"}}"#),
            ("application/merge-patch+json", #"{"metadata":null}"#),
            ("application/strategic-merge-patch+json", #"{"$patch":"replace"}"#),
            ("application/strategic-merge-patch+json", #"{"data":{"$patch":"delete"},"$setElementOrder/x":[{"a":1}]}"#),
            ("application/strategic-merge-patch+json", #"{"$retainKeys":7}"#),
            ("application/apply-patch+yaml", "kind: ConfigMap"),
            ("text/plain", "hello"),
            ("application/json-patch+json", deep),
        ]
        for (i, (type, body)) in patches.enumerated() {
            let r = try c.request("PATCH", "/api/v1/namespaces/default/configmaps/target", body, contentType: type)
            #expect(r.code < 500, "patch \(i) (\(type)): \(r.code) \(r.text.prefix(200))")
            #expect(healthy(), "after patch \(i)")
        }
        // Hostile paths and queries.
        let paths = ["/api/v1/namespaces/../../etc/passwd", "/api/v1/namespaces/%2e%2e/configmaps", "/api/v1//namespaces///default/configmaps",
                     "/api/v1/namespaces/default/configmaps/%00", "/api/v1/namespaces/default/configmaps/" + String(repeating: "a", count: 10_000),
                     "/apis/%ff%fe/v1", "/api/v1/namespaces/default/pods?labelSelector=%28%28%28", "/api/v1/pods?fieldSelector=a%3D%3D%3Db",
                     "/api/v1/pods?limit=-1", "/api/v1/pods?limit=99999999999999999999", "/api/v1/pods?continue=%ff%ff", "/api/v1/pods?watch=true&resourceVersion=abc",
                     "/api/v1/pods?resourceVersion=-5", "/api/v1/namespaces/default/configmaps/target/status", "/openapi/v3/apis/../../x",
                     "/api/v1/namespaces/default/pods/x/exec?command=", "/apis/apps/v1/namespaces/default/deployments/x/scale/extra/segments"]
        for path in paths {
            let r = try c.request("GET", path)
            #expect(r.code < 500, "\(path.prefix(80)): \(r.code) \(r.text.prefix(200))")
        }
        #expect(healthy())
        // Raw HTTP that isn't: garbage, a request line without version, endless headers, a lying Content-Length.
        let raw: [[UInt8]] = [
            Array("GARBAGE\r\n\r\n".utf8), Array("GET\r\n\r\n".utf8), [0xff, 0xfe, 0x00, 0x0d, 0x0a, 0x0d, 0x0a],
            Array(("GET /healthz HTTP/1.1\r\n" + String(repeating: "X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", count: 4000) + "\r\n").utf8),
            Array("POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n{}".utf8),
            Array("POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".utf8),
            Array("GET /healthz HTTP/9.9\r\n\r\n".utf8),
        ]
        for bytes in raw {
            let s = try RawSocket(port: m.port)
            s.send(bytes)
            _ = s.receive()
        }
        #expect(healthy())
        // A body over the 3 MiB limit is refused as such.
        let huge = #"{"metadata":{"name":"huge"},"data":{"k":""# + String(repeating: "x", count: 4 << 20) + #""}}"#
        #expect(try c.post("/api/v1/namespaces/default/configmaps", huge).code == 413)
        #expect(healthy())
        #expect(m.process.isRunning)
        #expect(try c.get("/api/v1/namespaces/default/configmaps/target").json.value(at: "metadata.name") == "target")
    }
}
