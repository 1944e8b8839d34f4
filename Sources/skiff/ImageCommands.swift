import ArgumentParser
import Images
import Runtime

struct ImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image", abstract: "Manage images.",
        subcommands: [ImageImport.self, ImageList.self, ImageRemove.self, ImagePrune.self])
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
