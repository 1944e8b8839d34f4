// Running a host tool (CNI plugins, ip, iptables) as a child process: its input on stdin, its
// stdout and stderr collected. One place for the pipe handling every caller needs.
import Foundation

public enum HostCommand {
    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// Runs `path` with `arguments`; `environment` nil inherits ours. A tool that can't start
    /// reports status 127 and why on stderr.
    public static func run(_ path: String, _ arguments: [String] = [], input: [UInt8]? = nil,
                           environment: [String: String]? = nil) -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        if let environment { p.environment = environment }
        let inp = Pipe(), out = Pipe(), err = Pipe()
        p.standardInput = inp
        p.standardOutput = out
        p.standardError = err
        do { try p.run() } catch { return Result(status: 127, stdout: "", stderr: "\(path): \(error)") }
        if let input { inp.fileHandleForWriting.write(Data(input)) }
        try? inp.fileHandleForWriting.close()
        // stderr is drained on its own thread: a tool that fills it must not block on us.
        let errData = ErrBox()
        let drained = DispatchSemaphore(value: 0)
        Thread.detachNewThread { errData.data = err.fileHandleForReading.readDataToEndOfFile(); drained.signal() }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        drained.wait()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData.data, as: UTF8.self))
    }

    private final class ErrBox: @unchecked Sendable { var data = Data() }
}
