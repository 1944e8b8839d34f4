// The Images module's one error type.

public struct ImageError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        case notFound, invalidReference, digestMismatch, unsafePath, corrupt, unsupported, io
    }
    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
