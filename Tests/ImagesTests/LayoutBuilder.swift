// Builds OCI image layouts from in-memory layers, for tests.
import Foundation
@testable import Images

struct LayoutBuilder {
    /// Writes a layout with the given (uncompressed) layer tars; returns its directory.
    static func write(layers: [[UInt8]], ref: String = "example.com/test/img:1", compress: Bool = true,
                      cmd: [String] = ["sh"], into dir: String) throws -> (dir: String, layerDigests: [Digest], manifest: Digest) {
        let blobs = dir + "/blobs/sha256"
        try FileManager.default.createDirectory(atPath: blobs, withIntermediateDirectories: true)
        func put(_ bytes: [UInt8]) throws -> (Digest, Int) {
            let d = Digest.of(bytes)
            try Data(bytes).write(to: URL(fileURLWithPath: blobs + "/" + d.hex))
            return (d, bytes.count)
        }
        var layerDescs: [[String: Any]] = []
        var diffIDs: [String] = []
        var digests: [Digest] = []
        for tar in layers {
            diffIDs.append(Digest.of(tar).description)
            let blob = compress ? try gzip(tar) : tar
            let (d, n) = try put(blob)
            digests.append(d)
            layerDescs.append(["mediaType": compress ? MediaType.ociLayerGzip : MediaType.ociLayer, "digest": d.description, "size": n])
        }
        let config: [String: Any] = ["architecture": "amd64", "os": "linux", "config": ["Cmd": cmd],
                                     "rootfs": ["type": "layers", "diff_ids": diffIDs]]
        let (cd, cn) = try put(Array(try JSONSerialization.data(withJSONObject: config)))
        let manifest: [String: Any] = ["schemaVersion": 2, "mediaType": MediaType.ociManifest,
                                       "config": ["mediaType": MediaType.ociConfig, "digest": cd.description, "size": cn],
                                       "layers": layerDescs]
        let (md, mn) = try put(Array(try JSONSerialization.data(withJSONObject: manifest)))
        let index: [String: Any] = ["schemaVersion": 2, "manifests": [["mediaType": MediaType.ociManifest, "digest": md.description,
                                    "size": mn, "annotations": ["org.opencontainers.image.ref.name": ref]]]]
        try JSONSerialization.data(withJSONObject: index).write(to: URL(fileURLWithPath: dir + "/index.json"))
        try Data("{\"imageLayoutVersion\":\"1.0.0\"}".utf8).write(to: URL(fileURLWithPath: dir + "/oci-layout"))
        return (dir, digests, md)
    }
}
