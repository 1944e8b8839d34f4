// The Runtime module's one error type: a code, a clear one-line message, and the cause.
#if canImport(Glibc)
import Glibc
#endif

public struct RuntimeError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        case invalidArgument, notFound, alreadyExists, conflict, seccomp, mount, spawn, state, io
    }
    public let code: Code
    public let message: String
    public let cause: String?

    public init(_ code: Code, _ message: String, cause: Error? = nil) {
        self.code = code
        self.message = message
        self.cause = cause.map { "\($0)" }
    }

    /// An error from a failed syscall: "<what>: <strerror> (<path>)".
    public static func posix(_ code: Code, _ what: String, path: String? = nil, errno e: Int32 = errno) -> RuntimeError {
        let reason = String(cString: strerror(e))
        return RuntimeError(code, path.map { "\(what) \($0): \(reason)" } ?? "\(what): \(reason)")
    }

    public var description: String {
        if let cause { return "\(message): \(cause)" }
        return message
    }
}
