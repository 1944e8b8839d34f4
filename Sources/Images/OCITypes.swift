// OCI image-spec and Docker schema 2 documents, as Codable types (JSON field names as in the specs).

public enum MediaType {
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let ociConfig = "application/vnd.oci.image.config.v1+json"
    public static let ociLayer = "application/vnd.oci.image.layer.v1.tar"
    public static let ociLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
    public static let ociLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
    public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerConfig = "application/vnd.docker.container.image.v1+json"
    public static let dockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"

    public static func isIndex(_ t: String?) -> Bool { t == ociIndex || t == dockerManifestList }
    public static func isManifest(_ t: String?) -> Bool { t == ociManifest || t == dockerManifest }
}

public struct Platform: Codable, Hashable, Sendable, CustomStringConvertible {
    public var architecture: String
    public var os: String
    public var variant: String?

    public init(architecture: String, os: String, variant: String? = nil) {
        self.architecture = architecture; self.os = os; self.variant = variant
    }

    /// This machine's platform (linux/amd64 here).
    public static var current: Platform {
        #if arch(x86_64)
        return Platform(architecture: "amd64", os: "linux")
        #elseif arch(arm64)
        return Platform(architecture: "arm64", os: "linux", variant: "v8")
        #else
        return Platform(architecture: "unknown", os: "linux")
        #endif
    }

    /// "linux/amd64" or "linux/arm64/v8".
    public init(parsing text: String) throws {
        let p = text.split(separator: "/").map(String.init)
        guard p.count == 2 || p.count == 3 else { throw ImageError(.invalidReference, "invalid platform \"\(text)\": expected os/arch[/variant]") }
        os = p[0]; architecture = p[1]; variant = p.count == 3 ? p[2] : nil
    }

    public var description: String { [os, architecture, variant].compactMap { $0 }.joined(separator: "/") }

    func matches(_ other: Platform) -> Bool {
        os == other.os && architecture == other.architecture && (other.variant == nil || variant == nil || variant == other.variant)
    }
}

public struct Descriptor: Codable, Hashable, Sendable {
    public var mediaType: String?
    public var digest: Digest
    public var size: Int64
    public var annotations: [String: String]?
    public var platform: Platform?
    public var urls: [String]?

    public init(mediaType: String?, digest: Digest, size: Int64) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
    }
}

/// An OCI image index or Docker manifest list (also the layout's index.json).
public struct ImageIndex: Codable, Sendable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var manifests: [Descriptor]
    public var annotations: [String: String]?

    /// The manifest for `platform`; entries without a platform match only when there is one entry.
    public func manifest(for platform: Platform) throws -> Descriptor {
        if let hit = manifests.first(where: { $0.platform?.matches(platform) ?? false }) { return hit }
        if manifests.count == 1, manifests[0].platform == nil { return manifests[0] }
        let offered = manifests.compactMap { $0.platform?.description }.joined(separator: ", ")
        throw ImageError(.notFound, "no manifest for platform \(platform) (offered: \(offered.isEmpty ? "none" : offered))")
    }
}

public struct ImageManifest: Codable, Sendable {
    public var schemaVersion: Int
    public var mediaType: String?
    public var config: Descriptor
    public var layers: [Descriptor]
    public var annotations: [String: String]?
}

/// The image configuration: what to run and the layer diff ids.
public struct ImageConfig: Codable, Sendable, Equatable {
    public struct Config: Codable, Sendable, Equatable {
        public var user: String?
        public var env: [String]?
        public var entrypoint: [String]?
        public var cmd: [String]?
        public var workingDir: String?
        public var exposedPorts: [String: EmptyObject]?
        public var labels: [String: String]?
        public var stopSignal: String?

        enum CodingKeys: String, CodingKey {
            case user = "User", env = "Env", entrypoint = "Entrypoint", cmd = "Cmd", workingDir = "WorkingDir"
            case exposedPorts = "ExposedPorts", labels = "Labels", stopSignal = "StopSignal"
        }
    }

    public struct RootFS: Codable, Sendable, Equatable {
        public var type: String
        public var diffIDs: [Digest]
        enum CodingKeys: String, CodingKey { case type, diffIDs = "diff_ids" }
    }

    public struct History: Codable, Sendable, Equatable {
        public var created: String?
        public var createdBy: String?
        public var emptyLayer: Bool?
        enum CodingKeys: String, CodingKey { case created, createdBy = "created_by", emptyLayer = "empty_layer" }
    }

    public var architecture: String?
    public var os: String?
    public var created: String?
    public var config: Config?
    public var rootfs: RootFS
    public var history: [History]?
}

public struct EmptyObject: Codable, Sendable, Equatable {}
