// Finding the executables installed beside the running one (skiff, skiff-cluster, skiff-monitor).
#if canImport(Glibc)
import Glibc
#endif

public enum Executables {
    /// The running executable's path (/proc/self/exe), if readable.
    public static var current: String? {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `name` in the running executable's directory, if it is there and executable.
    public static func beside(_ name: String) -> String? {
        guard let exe = current, let slash = exe.lastIndex(of: "/") else { return nil }
        let path = String(exe[..<slash]) + "/" + name
        return access(path, X_OK) == 0 ? path : nil
    }
}
