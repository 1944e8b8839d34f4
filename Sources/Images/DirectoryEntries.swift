// Reading a directory's entry names with readdir. A dirent is only d_reclen bytes long: copying
// its whole 256-byte d_name field (withUnsafeBytes(of: ent.pointee.d_name)) reads past the
// entry and, for the last one in readdir's buffer, past the mapping — the node agent crashed so
// with 2,000 containers. The name is read in place, up to its NUL.
#if canImport(Glibc)
import Glibc
#endif

public enum DirectoryEntries {
    /// Every entry of an open directory but "." and "..", in readdir order.
    public static func names(_ dir: OpaquePointer) -> [String] {
        let offset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        var names: [String] = []
        while let ent = readdir(dir) {
            let name = String(cString: (UnsafeRawPointer(ent) + offset).assumingMemoryBound(to: CChar.self))
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
