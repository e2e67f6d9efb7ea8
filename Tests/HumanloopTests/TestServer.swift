import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The bundled test server (Tests/server/hl_test_server.py) on 127.0.0.1, one per test, driven
/// through its control routes (see Tests/server/PROTOCOL.md) over a plain socket.
final class TestServer: @unchecked Sendable {
    let process = Process()
    private let input = Pipe()
    let port: Int
    var baseURL: String { "http://127.0.0.1:\(port)/v4" }

    init() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", root.appendingPathComponent("Tests/server/hl_test_server.py").path,
                             "--port", "0", "--exit-on-stdin-eof"]
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        var text = ""
        while !text.contains("\n") {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("PORT=") }),
              let port = Int(line.dropFirst(5)) else {
            throw TestServerError(message: "the test server did not print PORT=: \(text)")
        }
        self.port = port
    }

    deinit { stop() }

    func stop() {
        guard process.isRunning else { return }
        try? input.fileHandleForWriting.close()
        process.terminate()
        process.waitUntilExit()
    }

    /// Queues scripted responses (`POST /_control/script`); `responses` is a JSON array text.
    func script(_ responses: String) throws {
        _ = try control("POST", "/_control/script", body: #"{"responses":\#(responses)}"#)
    }

    /// The recorded API requests.
    func requests() throws -> [[String: Any]] {
        (try control("GET", "/_control/requests")["requests"] as? [[String: Any]]) ?? []
    }

    /// The recorded request bodies, parsed.
    func bodies() throws -> [NSDictionary] {
        try requests().map { request in
            let text = request["body"] as? String ?? ""
            return try JSONSerialization.jsonObject(with: Data(text.utf8)) as? NSDictionary ?? [:]
        }
    }

    /// `GET /_control/stats`.
    func stats() throws -> [String: Any] { try control("GET", "/_control/stats") }

    /// One control request on a connection of its own (`Connection: close`); the answer's JSON.
    func control(_ method: String, _ path: String, body: String = "") throws -> [String: Any] {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestServerError(message: "socket failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw TestServerError(message: "connect failed") }
        let request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        var bytes = Array(request.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeMutableBytes { send(fd, $0.baseAddress! + sent, $0.count - sent, 0) }
            guard n > 0 else { throw TestServerError(message: "send failed") }
            sent += n
        }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            answer += buffer[0..<n]
        }
        bytes = answer
        let text = String(decoding: bytes, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw TestServerError(message: "no answer: \(text)") }
        let head = text[..<split.lowerBound]
        guard head.hasPrefix("HTTP/1.1 200") else { throw TestServerError(message: "control \(path): \(text)") }
        let json = try JSONSerialization.jsonObject(with: Data(text[split.upperBound...].utf8))
        return json as? [String: Any] ?? [:]
    }

    /// Waits until `condition` holds (polled every 10 ms, sleeping without blocking a thread)
    /// or `seconds` passed; whether it held.
    func wait(upTo seconds: Double, _ condition: () throws -> Bool) async throws -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if try condition() { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return try condition()
    }
}

struct TestServerError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
