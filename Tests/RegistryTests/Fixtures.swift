// Test images and servers: a two-platform copy of the busybox layout, and a fake registry that
// misbehaves (truncated blobs, oversize manifests) the way a real one can't be made to.
import API
import Foundation
import Images
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

enum MultiPlatformLayout {
    /// A copy of `layout` whose tag "multi" is an index of linux/amd64 (the original) and
    /// linux/arm64 (same layers, a config saying arm64).
    static func make(from layout: String) throws -> String {
        let dir = try TestEnv.makeTempDir("skiff-multi")
        _ = try TestEnv.run(["/bin/cp", "-a", layout + "/.", dir])
        let index = try JSONValue.parse(Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/index.json"))))
        guard let amdDesc = index["manifests"]?.arrayValue?.first, let amdDigest = amdDesc["digest"]?.stringValue else {
            throw RegistryTestError("no manifest in \(layout)")
        }
        let manifest = try readBlob(dir, amdDigest)
        var config = try readBlob(dir, manifest.value(at: "config.digest")?.stringValue ?? "")
        config["architecture"] = "arm64"
        let (configDigest, configSize) = try writeBlob(dir, config)
        var armManifest = manifest
        armManifest["config"]?["digest"] = .string(configDigest)
        armManifest["config"]?["size"] = .int(configSize)
        let (armDigest, armSize) = try writeBlob(dir, armManifest)
        var amd = amdDesc
        amd["annotations"] = nil
        amd["platform"] = ["architecture": "amd64", "os": "linux"]
        let arm: JSONValue = ["mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": .string(armDigest), "size": .int(armSize),
                              "platform": ["architecture": "arm64", "os": "linux"]]
        let nested: JSONValue = ["schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [amd, arm]]
        let (nestedDigest, nestedSize) = try writeBlob(dir, nested)
        let top: JSONValue = ["schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [[
            "mediaType": "application/vnd.oci.image.index.v1+json", "digest": .string(nestedDigest), "size": .int(nestedSize),
            "annotations": ["org.opencontainers.image.ref.name": "multi"]]]]
        try Data(top.serialized()).write(to: URL(fileURLWithPath: dir + "/index.json"))
        return dir
    }

    static func readBlob(_ dir: String, _ digest: String) throws -> JSONValue {
        let hex = digest.replacingOccurrences(of: "sha256:", with: "")
        return try JSONValue.parse(Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/blobs/sha256/" + hex))))
    }

    static func writeBlob(_ dir: String, _ v: JSONValue) throws -> (String, Int64) {
        let bytes = v.serialized()
        let h = SHA256Hasher()
        h.update(bytes[...])
        let d = h.finish()
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/blobs/sha256/" + d.hex))
        return (d.description, Int64(bytes.count))
    }
}

enum ZstdLayout {
    /// A copy of `layout` tagged "zstd" whose layer is recompressed with zstd (same diff id).
    static func make(from layout: String) throws -> String {
        let dir = try TestEnv.makeTempDir("skiff-zstd")
        _ = try TestEnv.run(["/bin/cp", "-a", layout + "/.", dir])
        let index = try JSONValue.parse(Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/index.json"))))
        let manifestDigest = index["manifests"]?.arrayValue?.first?["digest"]?.stringValue ?? ""
        var manifest = try MultiPlatformLayout.readBlob(dir, manifestDigest)
        let layerHex = (manifest["layers"]?.arrayValue?.first?["digest"]?.stringValue ?? "").replacingOccurrences(of: "sha256:", with: "")
        let r = try TestEnv.capture(["/bin/sh", "-c", "gzip -dc '\(dir)/blobs/sha256/\(layerHex)' | zstd -q -c > '\(dir)/layer.zst'"])
        guard r.status == 0 else { throw RegistryTestError("recompressing with zstd failed: \(r.stderr)") }
        let zst = Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/layer.zst")))
        let h = SHA256Hasher()
        h.update(zst[...])
        let d = h.finish()
        try Data(zst).write(to: URL(fileURLWithPath: dir + "/blobs/sha256/" + d.hex))
        try FileManager.default.removeItem(atPath: dir + "/layer.zst")
        manifest["layers"] = [["mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": .string(d.description), "size": .int(Int64(zst.count))]]
        let (md, ms) = try MultiPlatformLayout.writeBlob(dir, manifest)
        let top: JSONValue = ["schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [[
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": .string(md), "size": .int(ms),
            "annotations": ["org.opencontainers.image.ref.name": "zstd"], "platform": ["architecture": "amd64", "os": "linux"]]]]
        try Data(top.serialized()).write(to: URL(fileURLWithPath: dir + "/index.json"))
        return dir
    }
}

/// A tiny HTTP registry in Python serving files from a directory; a path listed in
/// `truncate` gets its full Content-Length but only half its body, then the connection drops.
final class FakeRegistry: @unchecked Sendable {
    let dir: String
    let port: Int
    let process = Process()
    var host: String { "127.0.0.1:\(port)" }

    init() throws {
        dir = try TestEnv.makeTempDir("skiff-fakereg")
        port = try TestEnv.freePort()
        let layout = try TestEnv.busyboxImageLayout()
        let index = try JSONValue.parse(Array(try Data(contentsOf: URL(fileURLWithPath: layout + "/index.json"))))
        let manifestDigest = index["manifests"]?.arrayValue?.first?["digest"]?.stringValue ?? ""
        let manifestHex = manifestDigest.replacingOccurrences(of: "sha256:", with: "")
        let manifest = try Data(contentsOf: URL(fileURLWithPath: layout + "/blobs/sha256/" + manifestHex))
        let parsed = try JSONValue.parse(Array(manifest))
        // x/truncated: the real manifest and blobs; the layer is cut short.
        let root = dir + "/v2/x/truncated"
        try FileManager.default.createDirectory(atPath: root + "/manifests", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/blobs", withIntermediateDirectories: true)
        try manifest.write(to: URL(fileURLWithPath: root + "/manifests/latest"))
        for d in [parsed.value(at: "config.digest")?.stringValue ?? ""] + (parsed["layers"]?.arrayValue ?? []).compactMap({ $0["digest"]?.stringValue }) {
            let hex = d.replacingOccurrences(of: "sha256:", with: "")
            try FileManager.default.copyItem(atPath: layout + "/blobs/sha256/" + hex, toPath: root + "/blobs/" + d)
        }
        // x/tokened: the same image behind bearer-token auth.
        _ = try TestEnv.run(["/bin/cp", "-a", root, dir + "/v2/x/tokened"])
        let layerDigest = parsed["layers"]?.arrayValue?.first?["digest"]?.stringValue ?? ""
        try "/v2/x/truncated/blobs/\(layerDigest)\n".write(toFile: dir + "/truncate", atomically: true, encoding: .utf8)
        // x/huge: a 5 MiB manifest.
        try FileManager.default.createDirectory(atPath: dir + "/v2/x/huge/manifests", withIntermediateDirectories: true)
        let huge = #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","annotations":{"x":""# + String(repeating: "a", count: 5 << 20) + #""}}"#
        try huge.write(toFile: dir + "/v2/x/huge/manifests/latest", atomically: true, encoding: .utf8)
        let script = """
            import http.server, os, sys
            root = sys.argv[1]
            truncate = set(open(os.path.join(root, "truncate")).read().split())
            port = int(sys.argv[2])
            class H(http.server.BaseHTTPRequestHandler):
                def do_GET(self):
                    if self.path.startswith("/token?"):
                        # The bearer flow: credentials (Basic bob:pw) buy a token for the asked scope.
                        import base64, urllib.parse
                        q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
                        ok = self.headers.get("Authorization") == "Basic " + base64.b64encode(b"bob:pw").decode()
                        if not ok or q.get("scope") != ["repository:x/tokened:pull"] or q.get("service") != ["fake"]:
                            self.send_response(401); self.send_header("Content-Length", "0"); self.end_headers(); return
                        body = b'{"token":"good-token"}'
                        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
                        self.wfile.write(body); return
                    if self.path.startswith("/v2/x/tokened/") and self.headers.get("Authorization") != "Bearer good-token":
                        self.send_response(401)
                        self.send_header("WWW-Authenticate", 'Bearer realm="http://127.0.0.1:%d/token",service="fake",scope="repository:x/tokened:pull"' % port)
                        self.send_header("Content-Length", "0"); self.end_headers(); return
                    path = os.path.join(root, self.path.lstrip("/"))
                    if not os.path.isfile(path):
                        self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers(); return
                    data = open(path, "rb").read()
                    self.send_response(200)
                    ctype = "application/vnd.oci.image.manifest.v1+json" if "/manifests/" in self.path else "application/octet-stream"
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if self.path in truncate:
                        self.wfile.write(data[: len(data) // 2]); self.wfile.flush()
                        self.close_connection = True
                        return
                    self.wfile.write(data)
                def log_message(self, *a): pass
            http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), H).serve_forever()
            """
        try script.write(toFile: dir + "/server.py", atomically: true, encoding: .utf8)
        try LocalRegistry.serve(process, "/usr/bin/python3", [dir + "/server.py", dir, String(port)], port: port, onFailure: stop)
    }

    func stop() { LocalRegistry.stop(process, dir: dir) }

    deinit { stop() }
}
