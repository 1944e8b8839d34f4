import ArgumentParser
import SkiffCLI
import Foundation
import Images
import Registry
import Runtime
#if canImport(Glibc)
import Glibc
#endif

struct ImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: ClusterCommand.image.rawValue, abstract: ClusterCommand.image.abstract,
        subcommands: [ImagePull.self, ImageImport.self, ImageList.self, ImageRemove.self, ImagePrune.self])
}

/// Options for reaching registries, shared by `image pull` and (later) `skiff node`.
struct RegistryOptions: ParsableArguments {
    @Option(name: .customLong("registry-config"), help: "Mirrors and per-registry auth/TLS (k3s registries.yaml format).")
    var registryConfig: String?
    @Option(name: .customLong("auth-file"), help: "Docker-style auth file (default: $REGISTRY_AUTH_FILE, ~/.docker/config.json).")
    var authFile: String?
    @Option(name: .customLong("insecure"), help: "Registry host reached over plain HTTP (repeatable).")
    var insecure: [String] = []

    func config() throws -> RegistryConfig {
        var c = try registryConfig.map { try RegistryConfig(registriesFile: $0) } ?? RegistryConfig()
        let env = ProcessInfo.processInfo.environment
        let auth = authFile ?? env["REGISTRY_AUTH_FILE"] ?? env["HOME"].map { $0 + "/.docker/config.json" }
        if let auth, FileManager.default.fileExists(atPath: auth) { try c.addAuthFile(auth) }
        else if let authFile { throw ValidationError("auth file \(authFile) does not exist") }
        c.plainHTTP.formUnion(insecure)
        return c
    }
}

struct ImagePull: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull", abstract: "Pull an image from a registry (or its mirrors) into the store.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var registry: RegistryOptions
    @Option(help: "Platform to pull from a multi-platform image, e.g. linux/arm64.") var platform: String?
    @Argument(help: "Image reference, e.g. busybox, nginx:1.25, host:5000/ns/app@sha256:...") var reference: String

    func run() throws {
        let store = try global.runtime().imageStore
        let p = try platform.map { try Platform(parsing: $0) } ?? .current
        let puller = Puller(store: store, config: try registry.config(), platform: p)
        let tty = isatty(1) != 0
        let record = try puller.pull(reference) { event in
            // Plain lines when not a terminal; one updating line per layer otherwise.
            switch event.stage {
            case .downloading where !tty: return
            case .downloading:
                let line = "\(event.item): downloading \(formatBytes(event.bytes))/\(formatBytes(event.total))"
                writeAll(1, "\r\u{1B}[K" + line)
            case .resolving: writeAll(1, "resolving \(reference)\n")
            case .exists: writeAll(1, (tty ? "\r\u{1B}[K" : "") + "\(event.item): already present\n")
            case .downloaded: writeAll(1, (tty ? "\r\u{1B}[K" : "") + "\(event.item): downloaded \(formatBytes(event.total))\n")
            case .unpacking, .done: return
            }
        }
        print("\(record.references.last ?? reference) \(record.manifestDigest) \(formatBytes(record.size))")
    }
}

struct ImageImport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import", abstract: "Import an OCI image layout (directory or tar archive).")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Reference to tag the image with, e.g. busybox:latest.") var tag: String?
    @Argument(help: "Path to an OCI image layout directory or archive.") var path: String

    func run() throws {
        let records = try global.runtime().imageStore.importLayout(path, reference: tag)
        for r in records { print("\(r.references.first ?? "<none>") \(r.manifestDigest)") }
    }
}

struct ImageList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List images.")
    @OptionGroup var global: GlobalOptions

    func run() throws {
        var table = [["REPOSITORY", "TAG", "DIGEST", "SIZE"]]
        for image in try global.runtime().imageStore.list() {
            let refs = image.references.isEmpty ? ["<none>:<none>"] : image.references
            for ref in refs {
                let (repo, tag) = splitReference(ref)
                table.append([repo, tag, String(image.manifestDigest.description.prefix(19)), formatBytes(image.size)])
            }
        }
        printTable(table)
    }
}

struct ImageRemove: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove image references.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Image references or ids.") var images: [String]

    func run() throws {
        let store = try global.runtime().imageStore
        for ref in images { try store.remove(ref); print("Untagged: \(ref)") }
    }
}

struct ImagePrune: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune", abstract: "Delete blobs and unpacked layers no image references.")
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let r = try global.runtime().pruneImages()
        print("removed \(r.blobsRemoved) blobs, \(r.layersRemoved) layers, freed \(formatBytes(r.bytesFreed))")
    }
}

/// "docker.io/library/busybox:latest" → ("docker.io/library/busybox", "latest").
func splitReference(_ ref: String) -> (String, String) {
    if let at = ref.firstIndex(of: "@") { return (String(ref[..<at]), "<none>") }
    if let colon = ref.lastIndex(of: ":"), !ref[colon...].contains("/") {
        return (String(ref[..<colon]), String(ref[ref.index(after: colon)...]))
    }
    return (ref, "<none>")
}

func formatBytes(_ n: Int64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var v = Double(n), i = 0
    while v >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
    let tenths = Int((v * 10).rounded())
    return i == 0 ? "\(n)B" : "\(tenths / 10).\(tenths % 10)\(units[i])"
}
