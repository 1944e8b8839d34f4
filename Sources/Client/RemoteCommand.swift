// exec through the API server: the Kubernetes websocket streaming protocol (v5/v4.channel.k8s.io)
// over a connection of its own. Frames from the server carry a channel byte — 1 stdout,
// 2 stderr, 3 the final Status — and stdin goes up on channel 0 (masked, as a client must),
// ended with v5's close signal [255, 0].
import API
import Foundation
import HTTPTransfer
#if canImport(Glibc)
import Glibc
#endif

extension APIClient {
    /// Runs the upgrade at `path` (pods/NAME/exec?command=...); output goes to the sinks; stdin
    /// (an fd) is forwarded until EOF. Returns the remote command's exit code.
    public func remoteCommand(_ path: String, stdin: Int32?, stdout: @escaping ([UInt8]) -> Void,
                              stderr: @escaping ([UInt8]) -> Void) throws -> Int32 {
        let conn = https ? try Connection(host: host, port: port, tls: credentials?.tls ?? TLSOptions()) : try Connection(host: host, port: port)
        var key = [UInt8](repeating: 0, count: 16)
        for i in key.indices { key[i] = UInt8.random(in: 0...255) }
        let head = "GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nUser-Agent: skiffctl\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: \(Data(key).base64EncodedString())\r\n"
            + "Sec-WebSocket-Protocol: v5.channel.k8s.io, v4.channel.k8s.io\r\n"
            + extraHeaders.map { $0 + "\r\n" }.joined() + "\r\n"
        try conn.write(Array(head.utf8))
        let (code, headers) = try conn.readHead()
        guard code == 101 else {
            let body = (try? conn.readBody(headers)) ?? []
            throw ClientError(APIResponse(code: code, headers: headers, body: body).errorMessage)
        }
        let v5 = headers["sec-websocket-protocol"] == "v5.channel.k8s.io"
        let writer = FrameWriter(connection: conn)
        if let stdin {
            Thread.detachNewThread {
                var buf = [UInt8](repeating: 0, count: 32 * 1024)
                while true {
                    let n = buf.withUnsafeMutableBytes { read(stdin, $0.baseAddress, $0.count) }
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { break }
                    guard (try? writer.send(opcode: 2, [0] + buf[0..<n])) != nil else { return }
                }
                if v5 { try? writer.send(opcode: 2, [255, 0]) }
            }
        } else if v5 {
            try writer.send(opcode: 2, [255, 0])
        }
        var exitCode: Int32 = 0
        while let (opcode, payload) = try readFrame(conn) {
            switch opcode {
            case 8: return exitCode
            case 9: try writer.send(opcode: 10, payload)
            case 1, 2:
                guard let channel = payload.first else { continue }
                let data = Array(payload.dropFirst())
                switch channel {
                case 1: stdout(data)
                case 2: stderr(data)
                case 3: exitCode = try Self.exitCode(fromStatus: data)
                default: break
                }
            default: continue
            }
        }
        return exitCode
    }

    /// 0 for Success; the ExitCode cause of NonZeroExitCode; otherwise the Status's message as an error.
    static func exitCode(fromStatus bytes: [UInt8]) throws -> Int32 {
        guard !bytes.isEmpty, let status = try? JSONValue.parse(bytes) else { return 0 }
        if status["status"]?.stringValue == "Success" { return 0 }
        if status["reason"]?.stringValue == "NonZeroExitCode",
           let cause = status["details"]?["causes"]?.arrayValue?.first(where: { $0["reason"]?.stringValue == "ExitCode" }),
           let code = cause["message"]?.stringValue.flatMap({ Int32($0) }) {
            return code
        }
        throw ClientError(status["message"]?.stringValue ?? "the command failed")
    }

    /// One server frame (unmasked; fragments of a message are returned as they come).
    private func readFrame(_ conn: Connection) throws -> (UInt8, [UInt8])? {
        guard let first = try? conn.readBytes(2) else { return nil }
        let opcode = first[0] & 0x0f
        var length = Int(first[1] & 0x7f)
        if length == 126 {
            let b = try conn.readBytes(2)
            length = Int(b[0]) << 8 | Int(b[1])
        } else if length == 127 {
            length = try conn.readBytes(8).reduce(0) { $0 << 8 | Int($1) }
        }
        let mask = first[1] & 0x80 != 0 ? try conn.readBytes(4) : nil
        var payload = try conn.readBytes(length)
        if let mask { for i in payload.indices { payload[i] ^= mask[i % 4] } }
        return (opcode, payload)
    }
}

/// Client frames, masked, one writer at a time (stdin and pongs come from different threads).
final class FrameWriter: @unchecked Sendable {
    let connection: Connection
    private let lock = NSLock()
    init(connection: Connection) { self.connection = connection }

    func send(opcode: UInt8, _ payload: [UInt8]) throws {
        var frame: [UInt8] = [0x80 | opcode]
        if payload.count < 126 {
            frame.append(0x80 | UInt8(payload.count))
        } else if payload.count < 65536 {
            frame += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xff)]
        } else {
            frame.append(0x80 | 127)
            for shift in stride(from: 56, through: 0, by: -8) { frame.append(UInt8((payload.count >> shift) & 0xff)) }
        }
        let mask = (0..<4).map { _ in UInt8.random(in: 0...255) }
        frame += mask
        frame += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        lock.lock(); defer { lock.unlock() }
        try connection.write(frame)
    }
}
