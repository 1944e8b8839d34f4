import Foundation
import Images
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct DirectoryEntriesTests {
    /// Thousands of entries, names from 1 to 255 bytes: every one read whole, none twice, no
    /// "." or "..", nothing read past an entry (the old copy of d_name crashed at a buffer's end).
    @Test func namesOfEveryLengthAreReadWhole() throws {
        let dir = NSTemporaryDirectory() + "skiff-dirent-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var want = Set<String>()
        for i in 0..<3000 {
            let length = 1 + i % 255
            let name = String(String(i).padding(toLength: length, withPad: "x", startingAt: 0).prefix(length))
            want.insert(name)
        }
        for name in want { #expect(FileManager.default.createFile(atPath: dir + "/" + name, contents: nil)) }
        guard let handle = opendir(dir) else { Issue.record("opendir \(dir)"); return }
        defer { closedir(handle) }
        let names = DirectoryEntries.names(handle)
        #expect(names.count == want.count)
        #expect(Set(names) == want)
    }
}
