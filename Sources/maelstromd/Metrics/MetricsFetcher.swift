#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOHTTP1
import NIOPosix

/// Fetches one page over plain HTTP/1.1 with SwiftNIO, which the daemon links anyway; URLSession
/// would pull FoundationNetworking and libcurl into the binary for a single GET.
enum MetricsFetcher {
    /// Where to send the request, from an `http://HOST[:PORT][/PATH]` URL.
    struct Target: Sendable, Equatable {
        /// Host name or address literal, without brackets.
        var host: String
        /// TCP port (80 if the URL has none).
        var port: Int
        /// Path and query, starting with `/`.
        var path: String
        /// The `Host` header: the URL's authority.
        var authority: String

        /// Parses an `http://` URL; nil when it is not one (https is not spoken here).
        init?(url: String) {
            guard url.lowercased().hasPrefix("http://") else { return nil }
            let rest = url.dropFirst("http://".count)
            let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
            let authority = rest[..<slash]
            var path = String(rest[slash...])
            if path.isEmpty || path.hasPrefix("?") { path = "/" + path }
            let hostPart: Substring
            let portPart: Substring?
            if authority.hasPrefix("[") {
                guard let close = authority.firstIndex(of: "]") else { return nil }
                hostPart = authority[authority.index(after: authority.startIndex)..<close]
                let after = authority[authority.index(after: close)...]
                guard after.isEmpty || after.hasPrefix(":") else { return nil }
                portPart = after.isEmpty ? nil : after.dropFirst()
            } else {
                guard !authority.contains("@") else { return nil }
                let parts = authority.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                hostPart = parts[0]
                portPart = parts.count > 1 ? parts[1] : nil
            }
            guard !hostPart.isEmpty else { return nil }
            if let portPart {
                guard let port = Int(portPart), (1...65535).contains(port) else { return nil }
                self.port = port
            } else {
                self.port = 80
            }
            self.host = String(hostPart)
            self.path = path
            self.authority = String(authority)
        }
    }

    /// The status line and body of a response.
    struct Response: Sendable {
        /// The status.
        var status: HTTPResponseStatus
        /// The body, decoded as UTF-8.
        var body: String
    }

    /// Why a fetch failed, beyond what the socket said.
    enum Failure: Error, CustomStringConvertible {
        /// No complete answer within the time allowed.
        case timedOut(Duration)
        /// The server closed the connection before the response ended.
        case truncated
        /// The body exceeded the size any scrape of ours could reach.
        case tooLarge(Int)

        /// One line.
        var description: String {
            switch self {
            case .timedOut(let limit): "no answer within \(limit.components.seconds) s"
            case .truncated: "the connection closed before the response ended"
            case .tooLarge(let limit): "the response is larger than \(limit / 1_000_000) MB"
            }
        }
    }

    /// Bodies larger than this are refused: a scrape of a few peers is kilobytes.
    static let maxBodyBytes = 32 * 1_000_000

    /// GETs `target`, giving up after `timeout`.
    static func get(_ target: Target, timeout: Duration) async throws -> Response {
        try await withThrowingTaskGroup(of: Response.self) { group in
            group.addTask { try await request(target, connectTimeout: timeout) }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw Failure.timedOut(timeout)
            }
            defer { group.cancelAll() }
            guard let response = try await group.next() else { throw Failure.truncated }
            return response
        }
    }

    private static func request(_ target: Target, connectTimeout: Duration) async throws -> Response {
        let milliseconds = max(1, connectTimeout.components.seconds * 1000 + connectTimeout.components.attoseconds / 1_000_000_000_000_000)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.milliseconds(milliseconds))
            .connect(host: target.host, port: target.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                        wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var headers = HTTPHeaders()
            headers.add(name: "Host", value: target.authority)
            headers.add(name: "Accept", value: "text/plain")
            headers.add(name: "User-Agent", value: "maelstromd-stats")
            headers.add(name: "Connection", value: "close")
            try await outbound.write(.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: target.path, headers: headers)))
            try await outbound.write(.end(nil))

            var status: HTTPResponseStatus?
            var body = ByteBuffer()
            for try await part in inbound {
                switch part {
                case .head(let head):
                    status = head.status
                case .body(var chunk):
                    guard body.readableBytes + chunk.readableBytes <= maxBodyBytes else { throw Failure.tooLarge(maxBodyBytes) }
                    body.writeBuffer(&chunk)
                case .end:
                    guard let status else { throw Failure.truncated }
                    return Response(status: status, body: String(buffer: body))
                }
            }
            throw Failure.truncated
        }
    }

    /// One line saying why a fetch failed, in the system's words where there are some.
    static func describe(_ error: any Error) -> String {
        switch error {
        case let error as NIOConnectionError:
            if error.dnsAError != nil || error.dnsAAAAError != nil { return "cannot resolve \(error.host)" }
            if let first = error.connectionErrors.first { return describe(first.error) }
            return "cannot connect"
        case let error as NIOCore.IOError:
            return String(cString: strerror(error.errnoCode)).lowercased()
        case ChannelError.connectTimeout:
            return "connection timed out"
        case is HTTPParserError:
            return "the answer is not HTTP"
        case let error as Failure:
            return error.description
        default:
            return "\(error)".split(whereSeparator: \.isNewline).joined(separator: " ")
        }
    }
}
