import API
import Foundation
import Images
import Registry
import Testing
import TestSupport

/// The locally built busybox OCI layout (hack/build-test-image.sh).
func busyboxLayout() throws -> String { try TestEnv.busyboxImageLayout() }

func freshStore() throws -> (ImageStore, String) {
    let dir = try TestEnv.makeTempDir("skiff-pull")
    return (try ImageStore(root: dir), dir)
}

func insecure(_ r: LocalRegistry) -> RegistryConfig {
    var c = RegistryConfig()
    c.plainHTTP.insert(r.host)
    return c
}

/// Files left in the store's scratch directory (a failed pull must leave none).
func scratchFiles(_ storeDir: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: storeDir + "/tmp")) ?? []).filter { !$0.hasSuffix(".lock") && $0 != "lock" }
}

@Suite(.serialized) struct RegistryPullTests {
    @Test func pullsOCIAndDockerSchema2AndRunsFromTheStore() throws {
        let reg = try LocalRegistry()
        defer { reg.stop() }
        try reg.push(layout: try busyboxLayout(), to: "library/busybox:oci")
        try reg.push(layout: try busyboxLayout(), to: "library/busybox:docker", format: "v2s2")
        let (store, dir) = try freshStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let puller = Puller(store: store, config: insecure(reg))
        let events = EventLog()
        let oci = try puller.pull("\(reg.host)/library/busybox:oci") { events.add($0) }
        #expect(oci.references == ["\(reg.host)/library/busybox:oci"])
        #expect(events.stages.contains(.downloaded))
        let docker = try puller.pull("\(reg.host)/library/busybox:docker")
        #expect(docker.manifestDigest != oci.manifestDigest)          // a different manifest document...
        #expect(docker.diffIDs == oci.diffIDs)                        // ...of the same layers
        // By digest, and again (everything present: no downloads).
        let again = EventLog()
        let byDigest = try puller.pull("\(reg.host)/library/busybox@\(oci.manifestDigest)") { again.add($0) }
        #expect(byDigest.manifestDigest == oci.manifestDigest)
        #expect(!again.stages.contains(.downloaded))
        let dirs = try store.layerDirectories(of: oci)
        #expect(FileManager.default.fileExists(atPath: dirs[0] + "/bin/busybox"))
        #expect(scratchFiles(dir).isEmpty)
    }

    @Test func httpsByDefaultWithTheRegistrysCA() throws {
        let reg = try LocalRegistry(tls: true)
        defer { reg.stop() }
        try reg.push(layout: try busyboxLayout(), to: "secure/busybox:latest")
        let (store, dir) = try freshStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Not trusted: refused.
        do {
            _ = try Puller(store: store, config: RegistryConfig()).pull("\(reg.host)/secure/busybox:latest")
            Issue.record("an untrusted certificate was accepted")
        } catch {
            #expect("\(error)".lowercased().contains("certificate"))
        }
        // Trusted through registries.yaml configs.<host>.tls.ca_file.
        try "configs:\n  \"\(reg.host)\":\n    tls:\n      ca_file: \(reg.certificate)\n".write(toFile: dir + "/registries.yaml", atomically: true, encoding: .utf8)
        let record = try Puller(store: store, config: try RegistryConfig(registriesFile: dir + "/registries.yaml")).pull("\(reg.host)/secure/busybox:latest")
        #expect(record.layers.count == 1)
    }

    @Test(.enabled(if: TestEnv.isRoot, "runs a container"))
    func pulledImagesRunWithSkiff() throws {
        let reg = try LocalRegistry()
        defer { reg.stop() }
        try reg.push(layout: try busyboxLayout(), to: "library/busybox:run")
        let root = try TestEnv.makeTempDir("skiff-pullrun")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let skiff = TestEnv.binDir + "/skiff"
        let pull = try TestEnv.capture([skiff, "image", "pull", "--root", root, "--insecure", reg.host, "\(reg.host)/library/busybox:run"])
        #expect(pull.status == 0, "\(pull.stderr)")
        #expect(pull.stdout.contains("downloaded"))
        let run = try TestEnv.capture([skiff, "run", "--root", root, "--rm", "\(reg.host)/library/busybox:run", "echo", "pulled and ran"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout == "pulled and ran\n")
        let ls = try TestEnv.capture([skiff, "image", "ls", "--root", root])
        #expect(ls.stdout.contains("\(reg.host)/library/busybox"))
    }

    @Test func mirrorsServeDockerHubNames() throws {
        let reg = try LocalRegistry()
        defer { reg.stop() }
        try reg.push(layout: try busyboxLayout(), to: "library/busybox:1.36")
        let cfgDir = try TestEnv.makeTempDir("skiff-regcfg")
        defer { try? FileManager.default.removeItem(atPath: cfgDir) }
        // A dead mirror first: the pull moves on to the next endpoint.
        try """
        mirrors:
          docker.io:
            endpoint:
              - "http://127.0.0.1:1"
              - "http://\(reg.host)"
        """.write(toFile: cfgDir + "/registries.yaml", atomically: true, encoding: .utf8)
        let (store, dir) = try freshStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let record = try Puller(store: store, config: try RegistryConfig(registriesFile: cfgDir + "/registries.yaml")).pull("busybox:1.36")
        #expect(record.references == ["docker.io/library/busybox:1.36"])
        #expect(throws: RegistryError.self) {
            try Puller(store: store, config: try RegistryConfig(registriesFile: cfgDir + "/registries.yaml")).pull("busybox:nope")
        }
        try "mirrors:\n  docker.io:\n    endpoint: [\"ftp://x\"]\n".write(toFile: cfgDir + "/bad.yaml", atomically: true, encoding: .utf8)
        #expect(throws: RegistryError.self) { try RegistryConfig(registriesFile: cfgDir + "/bad.yaml") }
    }

    @Test func multiPlatformIndexPicksThePlatform() throws {
        let reg = try LocalRegistry()
        defer { reg.stop() }
        let layout = try MultiPlatformLayout.make(from: try busyboxLayout())
        defer { try? FileManager.default.removeItem(atPath: layout) }
        try reg.push(layout: layout, tag: "multi", to: "tools/busybox:multi", all: true)
        let (store, dir) = try freshStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let amd = try Puller(store: store, config: insecure(reg), platform: Platform(architecture: "amd64", os: "linux")).pull("\(reg.host)/tools/busybox:multi")
        let arm = try Puller(store: store, config: insecure(reg), platform: Platform(architecture: "arm64", os: "linux")).pull("\(reg.host)/tools/busybox:multi")
        #expect(amd.manifestDigest != arm.manifestDigest)
        #expect(try store.config(of: arm).architecture == "arm64")
        #expect(try store.config(of: amd).architecture == "amd64")
        #expect(throws: RegistryError.self) {
            try Puller(store: store, config: insecure(reg), platform: Platform(architecture: "s390x", os: "linux")).pull("\(reg.host)/tools/busybox:multi")
        }
    }

    @Test func zstdLayersUnpackToTheSameContent() throws {
        let reg = try LocalRegistry()
        defer { reg.stop() }
        let layout = try ZstdLayout.make(from: try busyboxLayout())
        defer { try? FileManager.default.removeItem(atPath: layout) }
        try reg.push(layout: layout, tag: "zstd", to: "library/busybox:zstd")
        try reg.push(layout: try busyboxLayout(), to: "library/busybox:gzip")
        let (store, dir) = try freshStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let zstd = try Puller(store: store, config: insecure(reg)).pull("\(reg.host)/library/busybox:zstd")
        let gzip = try Puller(store: store, config: insecure(reg)).pull("\(reg.host)/library/busybox:gzip")
        #expect(zstd.layers != gzip.layers)        // different blobs...
        #expect(zstd.diffIDs == gzip.diffIDs)      // ...of the same verified tar stream
        #expect(FileManager.default.fileExists(atPath: try store.layerDirectories(of: zstd)[0] + "/bin/busybox"))
    }

    @Test func basicAuthWithAnAuthFile() throws {
        let reg = try LocalRegistry(user: "alice", password: "s3cret")
        defer { reg.stop() }
        try reg.push(layout: try busyboxLayout(), to: "private/busybox:latest")
        let (store, dir) = try freshStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            _ = try Puller(store: store, config: insecure(reg)).pull("\(reg.host)/private/busybox:latest")
            Issue.record("pulled without credentials")
        } catch {
            #expect("\(error)".contains("requires credentials for private/busybox"))
        }
        let auth = dir + "/auth.json"
        let token = Data("alice:s3cret".utf8).base64EncodedString()
        try #"{"auths":{"\#(reg.host)":{"auth":"\#(token)"}}}"#.write(toFile: auth, atomically: true, encoding: .utf8)
        var config = insecure(reg)
        try config.addAuthFile(auth)
        let record = try Puller(store: store, config: config).pull("\(reg.host)/private/busybox:latest")
        #expect(record.layers.count == 1)
        try #"{"auths":{"\#(reg.host)":{"auth":"\#(Data("alice:wrong".utf8).base64EncodedString())"}}}"#.write(toFile: auth, atomically: true, encoding: .utf8)
        var wrong = insecure(reg)
        try wrong.addAuthFile(auth)
        let (store2, dir2) = try freshStore()
        defer { try? FileManager.default.removeItem(atPath: dir2) }
        #expect(throws: RegistryError.self) { try Puller(store: store2, config: wrong).pull("\(reg.host)/private/busybox:latest") }
    }

    @Test func aCorruptBlobIsRefusedAndLeavesNothing() throws {
        let reg = try LocalRegistry()
        defer { reg.stop() }
        try reg.push(layout: try busyboxLayout(), to: "library/busybox:latest")
        let (probeStore, probeDir) = try freshStore()
        let record = try Puller(store: probeStore, config: insecure(reg)).pull("\(reg.host)/library/busybox:latest")
        try? FileManager.default.removeItem(atPath: probeDir)
        // Flip one byte of the layer in the registry's storage: it now serves wrong content.
        let file = reg.blobFile(record.layers[0].hex)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        bytes[bytes.count / 2] ^= 0xff
        try bytes.write(to: URL(fileURLWithPath: file))
        let (store, dir) = try freshStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            _ = try Puller(store: store, config: insecure(reg)).pull("\(reg.host)/library/busybox:latest")
            Issue.record("a corrupt layer was accepted")
        } catch {
            #expect("\(error)".contains("digest"))
        }
        #expect(!store.hasBlob(record.layers[0]))
        #expect(try store.list().isEmpty)
        #expect(scratchFiles(dir).isEmpty)
    }

    @Test func truncatedAndOversizeResponsesAreRefused() throws {
        let server = try FakeRegistry()
        defer { server.stop() }
        let (store, dir) = try freshStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = RegistryConfig()
        config.plainHTTP.insert(server.host)
        let puller = Puller(store: store, config: config)
        do {
            _ = try puller.pull("\(server.host)/x/truncated:latest")
            Issue.record("a truncated layer was accepted")
        } catch {
            #expect("\(error)".contains("blob") || "\(error)".contains("transfer"))
        }
        #expect(try store.list().isEmpty)
        #expect(scratchFiles(dir).isEmpty)
        do {
            _ = try puller.pull("\(server.host)/x/huge:latest")
            Issue.record("an oversize manifest was accepted")
        } catch {
            #expect("\(error)".contains("larger than"))
        }
    }

    @Test func bearerTokenFlow() throws {
        let server = try FakeRegistry()
        defer { server.stop() }
        let (store, dir) = try freshStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var anonymous = RegistryConfig()
        anonymous.plainHTTP.insert(server.host)
        #expect(throws: RegistryError.self) { try Puller(store: store, config: anonymous).pull("\(server.host)/x/tokened:latest") }
        var config = anonymous
        let auth = dir + "/auth.json"
        try #"{"auths":{"\#(server.host)":{"username":"bob","password":"pw"}}}"#.write(toFile: auth, atomically: true, encoding: .utf8)
        try config.addAuthFile(auth)
        let record = try Puller(store: store, config: config).pull("\(server.host)/x/tokened:latest")
        #expect(record.layers.count == 1)
    }

    @Test func concurrentPullsOfOneImageBothSucceed() throws {
        let reg = try LocalRegistry()
        defer { reg.stop() }
        try reg.push(layout: try busyboxLayout(), to: "library/busybox:latest")
        let (store, dir) = try freshStore()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let results = ResultsBox()
        let group = DispatchGroup()
        for _ in 0..<4 {
            group.enter()
            DispatchQueue.global().async {
                defer { group.leave() }
                do { results.add(try Puller(store: store, config: insecure(reg)).pull("\(reg.host)/library/busybox:latest").manifestDigest.description) }
                catch { results.add("error: \(error)") }
            }
        }
        group.wait()
        #expect(results.all.count == 4)
        #expect(Set(results.all).count == 1)
        #expect(!(results.all.first ?? "").hasPrefix("error"))
        #expect(try store.list().count == 1)
        #expect(scratchFiles(dir).isEmpty)
    }
}

final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [PullProgress] = []
    func add(_ e: PullProgress) { lock.lock(); events.append(e); lock.unlock() }
    var stages: [PullProgress.Stage] { lock.lock(); defer { lock.unlock() }; return events.map(\.stage) }
}

final class ResultsBox: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [String] = []
    func add(_ v: String) { lock.lock(); values.append(v); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return values }
}
