// FileIO's directory helpers on a scratch directory: mkdir -p from the leaf up, and the
// container store's cached listing of its containers directory.
import Foundation
@testable import Runtime
import Testing

@Suite struct FileIOTests {
    let scratch = NSTemporaryDirectory() + "skiff-fileio-" + UUID().uuidString

    @Test func mkdirAllMakesWhatIsMissingAndRefusesAFileInTheWay() throws {
        defer { try? FileIO.removeTree(scratch) }
        try FileIO.mkdirAll(scratch + "/a/b/c")
        #expect(FileIO.isDirectory(scratch + "/a/b/c"))
        try FileIO.mkdirAll(scratch + "/a/b/c")   // there already
        try FileIO.mkdirAll(scratch + "/a/b/d/")
        #expect(FileIO.isDirectory(scratch + "/a/b/d"))
        try FileIO.writeAtomic(scratch + "/a/file", Array("x".utf8))
        #expect(throws: RuntimeError.self) { try FileIO.mkdirAll(scratch + "/a/file") }
        #expect(throws: RuntimeError.self) { try FileIO.mkdirAll(scratch + "/a/file/below") }
    }

    @Test func containerListingFollowsTheDirectory() throws {
        defer { try? FileIO.removeTree(scratch) }
        let cache = ContainerStoreCache()
        try FileIO.mkdirAll(scratch)
        let one = String(repeating: "a", count: 64), two = String(repeating: "b", count: 64)
        try FileIO.mkdirAll(scratch + "/" + one)
        #expect(cache.ids(in: scratch) == [one])
        // Made within the same instant as the last listing: never hidden behind an equal mtime.
        try FileIO.mkdirAll(scratch + "/" + two)
        #expect(Set(cache.ids(in: scratch)) == [one, two])
        Thread.sleep(forTimeInterval: 0.06)
        #expect(Set(cache.ids(in: scratch)) == [one, two])   // read again: now settled, kept
        try FileIO.removeTree(scratch + "/" + one)
        #expect(cache.ids(in: scratch) == [two])
        try FileIO.mkdirAll(scratch + "/not-a-container-id")
        #expect(cache.ids(in: scratch) == [two])
    }
}
