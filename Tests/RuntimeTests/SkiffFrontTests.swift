// The lean `skiff` front: its help lists every command, cluster commands reach skiff-cluster under
// skiff's name, and a missing skiff-cluster is one clear error. Runs the built executables.
import Foundation
import Testing
import TestSupport

@Suite struct SkiffFrontTests {
    let skiff = TestEnv.binDir + "/skiff"

    @Test func helpListsContainerAndClusterCommands() throws {
        let r = try TestEnv.capture([skiff, "--help"])
        #expect(r.status == 0, "\(r.stderr)")
        let commands = ["run", "ps", "logs", "exec", "kill", "rm", "image", "master", "scheduler", "controller-manager",
                        "node", "proxy", "dns", "up", "etcd-migrate"]
        for name in commands {
            #expect(r.stdout.contains("\n  \(name) "), "skiff --help does not list \(name)")
        }
    }

    @Test func clusterCommandsAreForwarded() throws {
        let master = try TestEnv.capture([skiff, "master", "--help"])
        #expect(master.status == 0, "\(master.stderr)")
        #expect(master.stdout.contains("USAGE: skiff master"))
        #expect(master.stdout.contains("--data-dir"))
        let help = try TestEnv.capture([skiff, "help", "image", "pull"])
        #expect(help.status == 0, "\(help.stderr)")
        #expect(help.stdout.contains("USAGE: skiff image pull"))
        // A usage error comes from skiff-cluster's parser with skiff's name and exit status.
        let bad = try TestEnv.capture([skiff, "node", "--no-such-flag"])
        #expect(bad.status == 64)
        #expect(bad.stderr.contains("--no-such-flag"))
    }

    @Test func missingClusterExecutableIsOneClearError() throws {
        let dir = try TestEnv.makeTempDir("skiff-front")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.copyItem(atPath: skiff, toPath: dir + "/skiff")
        let r = try TestEnv.capture([dir + "/skiff", "master", "--help"])
        // Without a skiff-cluster beside it, the front falls back to /usr/local/bin's.
        if FileManager.default.isExecutableFile(atPath: "/usr/local/bin/skiff-cluster") { return }
        #expect(r.status == 127)
        #expect(r.stderr.contains("skiff-cluster"))
        #expect(r.stderr.split(separator: "\n").count == 1)
        // The container commands need nothing beside it.
        let ps = try TestEnv.capture([dir + "/skiff", "ps", "--root", dir + "/state"])
        #expect(ps.status == 0, "\(ps.stderr)")
        #expect(ps.stdout.hasPrefix("CONTAINER ID"))
    }
}
