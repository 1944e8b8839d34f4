// The one way both skiff executables turn a command line into a run and an exit status.
import ArgumentParser
import Runtime
#if canImport(Glibc)
import Glibc
#endif

public enum EntryPoint {
    /// Parses `arguments` as `Root`'s and runs the command. One clear line on stderr for any error
    /// ("skiff: …"; 125 for runtime errors, as docker); help and usage errors as ArgumentParser prints them.
    public static func run<Root: ParsableCommand>(_ root: Root.Type, _ arguments: [String]) -> Never {
        do {
            var command = try root.parseAsRoot(arguments)
            try command.run()
            exit(0)
        } catch let error as RuntimeError {
            fail(error.description, code: 125)
        } catch let error as ExitCode {
            exit(error.rawValue)
        } catch {
            if root.exitCode(for: error) == .success { root.exit(withError: error) }
            let message = root.message(for: error)
            if message.isEmpty { root.exit(withError: error) }
            fail(message, code: root.exitCode(for: error).rawValue)
        }
    }

    public static func fail(_ message: String, code: Int32) -> Never {
        writeAll(2, "skiff: " + message.split(separator: "\n", omittingEmptySubsequences: true).joined(separator: "; ") + "\n")
        exit(code)
    }
}
