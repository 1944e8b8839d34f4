// The official Python client (pip `kubernetes`, installed into hack/.cache/venv by hack/test.sh).
import Foundation
import Testing
import TestSupport

@Suite struct PythonClientTests {
    @Test func officialPythonClientWorks() throws {
        guard let python = Self.python() else { return }
        let m = try MasterProcess()
        defer { m.stop() }
        let r = try TestEnv.capture([python, TestEnv.repoRoot + "/Tests/compat/python_client_check.py", m.url])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("python client: ok"))
    }

    /// The Python with the kubernetes client (hack/test.sh's venv, or $SKIFF_PYTHON); nil, with an issue recorded, when missing.
    static func python() -> String? {
        let python = ProcessInfo.processInfo.environment["SKIFF_PYTHON"] ?? TestEnv.repoRoot + "/hack/.cache/venv/bin/python"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            Issue.record("no Python with the kubernetes client at \(python): run hack/test.sh (it creates the venv) or set SKIFF_PYTHON")
            return nil
        }
        return python
    }
}
