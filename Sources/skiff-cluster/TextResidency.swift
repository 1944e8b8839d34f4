// The agent's binary is large (static Swift runtime, Foundation, NIO, the master's code too), and
// the kernel maps file pages around each fault (64 KiB at a time), so code never run would
// count in the agent's RSS. Marking the binary's read-only mappings MADV_RANDOM turns that
// fault-around off: only pages actually executed become resident.
#if canImport(Glibc)
import Glibc
#endif
import Runtime

enum TextResidency {
    static func adviseRandom() { advise(1 /* MADV_RANDOM */) }
    /// Drops the binary's read-only pages from this process (they fault back from the page cache when used).
    /// Only code (r-xp): read-only data may hold relocated pointers (RELRO) that must not be dropped.
    static func release() { advise(4 /* MADV_DONTNEED */, executableOnly: true) }

    static func advise(_ advice: Int32, executableOnly: Bool = false) {
        guard let exe = Executables.current, let maps = fopen("/proc/self/maps", "r") else { return }
        defer { fclose(maps) }
        var line = [CChar](repeating: 0, count: 4096)
        while fgets(&line, Int32(line.count), maps) != nil {
            let text = String(cString: line).trimmingCharacters(in: "\n")
            let f = text.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count >= 6, f[5] == exe, f[1] == "r-xp" || (!executableOnly && f[1] == "r--p") else { continue }
            let range = f[0].split(separator: "-")
            guard range.count == 2, let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16),
                  let p = UnsafeMutableRawPointer(bitPattern: start) else { continue }
            _ = madvise(p, Int(end - start), advice)
        }
    }
}

private extension String {
    func trimmingCharacters(in chars: String) -> String {
        var s = Substring(self)
        while let last = s.last, chars.contains(last) { s.removeLast() }
        return String(s)
    }
}
