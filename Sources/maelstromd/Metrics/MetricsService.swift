#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import MaelstromSplit
import NIOConcurrencyHelpers
import MaelstromCore
import MaelstromTun
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// Serves the gateway's counters in Prometheus text format at `GET /metrics` until graceful shutdown.
struct MetricsService: Service {
    /// Where the HTTP server listens.
    let listen: Endpoint
    /// Where the packet thread publishes its snapshots.
    let board: SnapshotBoard
    /// Logs the server's start and stop.
    let logger: Logger
    /// The split proxy's totals, when it runs.
    var split: NIOLockedValueBox<SplitCounters>? = nil

    /// How often the latest snapshot is folded into the series; the packet thread publishes about as often.
    static let refreshInterval = Duration.seconds(1)

    /// Binds, serves and refreshes until graceful shutdown or cancellation, then closes the listening
    /// socket and stops its event loop.
    func run() async throws {
        let exporter = MetricsExporter()
        // One thread is plenty for a scrape a few times a minute, and keeps the daemon's two cores for packets.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let channel: any Channel
        do {
            channel = try await bind(exporter: exporter, group: group)
        } catch {
            try? await group.shutdownGracefully()
            throw MetricsServiceError.cannotListen(listen, reason: Self.describe(error))
        }
        logger.info("serving metrics", metadata: ["url": "http://\(listen)/metrics"])

        await withDiscardingTaskGroup { tasks in
            tasks.addTask { await refresh(exporter) }
            await withTaskCancellationOrGracefulShutdownHandler {
                try? await channel.closeFuture.get()
            } onCancelOrGracefulShutdown: {
                channel.close(promise: nil)
            }
            tasks.cancelAll()
        }
        // Also closes any scraper connection still open on the loop.
        try await group.shutdownGracefully()
        logger.info("metrics server stopped")
    }

    private func bind(exporter: MetricsExporter, group: MultiThreadedEventLoopGroup) async throws -> any Channel {
        let address = try NIOCore.SocketAddress(ipAddress: listen.address.description, port: Int(listen.port))
        return try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 16)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(exporter: exporter))
                }
            }
            .bind(to: address)
            .get()
    }

    private func refresh(_ exporter: MetricsExporter) async {
        while !Task.isCancelled {
            if let snapshot = board.read() { exporter.absorb(snapshot) }
            if let split { exporter.absorb(split: split.withLockedValue { $0 }) }
            do {
                try await Task.sleep(for: Self.refreshInterval)
            } catch {
                return
            }
        }
    }

    /// The system's words for a socket error ("Address already in use"), not NIO's call-site dump.
    private static func describe(_ error: any Error) -> String {
        if let error = error as? NIOCore.IOError { return String(cString: strerror(error.errnoCode)) }
        return "\(error)"
    }
}

/// Why the metrics server could not run.
enum MetricsServiceError: Error, CustomStringConvertible {
    /// The listening socket could not be bound.
    case cannotListen(Endpoint, reason: String)

    /// One line naming the address, as the daemon prints it.
    var description: String {
        switch self {
        case .cannotListen(let endpoint, let reason): "cannot serve metrics on \(endpoint): \(reason)"
        }
    }
}

/// Answers one HTTP/1.1 connection: `GET /metrics` gets the exposition, anything else 404 or 405.
final class MetricsHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// The media type of the Prometheus text format, version 0.0.4.
    static let contentType = "text/plain; version=0.0.4"

    private let exporter: MetricsExporter
    private var request: HTTPRequestHead?

    /// Creates a handler that renders from `exporter`.
    init(exporter: MetricsExporter) { self.exporter = exporter }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
        case .body:
            break
        case .end:
            guard let head = request else { return }
            request = nil
            respond(to: head, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        var headers = HTTPHeaders()
        let status: HTTPResponseStatus
        var body = context.channel.allocator.buffer(capacity: 0)
        if path != "/metrics" {
            status = .notFound
            headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
            body.writeString("not found: try /metrics\n")
        } else if head.method != .GET {
            status = .methodNotAllowed
            headers.add(name: "Allow", value: "GET")
            headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
            body.writeString("method not allowed: use GET\n")
        } else {
            status = .ok
            headers.add(name: "Content-Type", value: Self.contentType)
            body.writeBytes(exporter.render())
        }
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        let keepAlive = head.isKeepAlive
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")

        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { channel.close(promise: nil) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A scraper that hangs up mid-response is routine; the connection is all there is to clean up.
        context.close(promise: nil)
    }
}
