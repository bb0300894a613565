import ArgumentParser
import Logging
import MaelstromConfig
import MaelstromCore
import MaelstromTun
import ServiceLifecycle

/// `maelstromd run`: the gateway daemon, in the foreground, logging to standard error.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the gateway: TUN device, UDP to the peers, FEC both ways. Stops cleanly on SIGTERM or SIGINT.")

    @Option(help: "The YAML config file.")
    var config: String

    func run() async throws {
        let (config, warnings) = try loadConfig(self.config)
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = config.logLevel.swiftLogLevel
            return handler
        }
        let logger = Logger(label: "maelstromd")
        for warning in warnings { logger.warning("\(warning)") }

        let gateway = try GatewayHost(config: config, logger: logger)
        defer { gateway.tearDown() }
        var services: [any Service] = [gateway.dataPlaneService, HealthReporter(board: gateway.board, logger: logger)]
        if let listen = config.metricsListen {
            services.append(MetricsService(listen: listen, board: gateway.board, logger: logger))
        }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        logger.info(
            "maelstromd running",
            metadata: [
                "tun": "\(config.tunName)", "mtu": "\(config.tunMTU)", "listen": "\(config.listen)",
                "peers": "\(config.peers.map(\.name).joined(separator: ","))", "fec": "\(config.fec)",
            ])
        do {
            try await group.run()
        } catch {
            logger.error("stopping: \(error)")
            throw CommandFailure(message: "\(error)", exitCode: 1)
        }
        logger.info("maelstromd stopped")
    }
}

extension LogLevel {
    /// The swift-log level of the same name.
    var swiftLogLevel: Logger.Level {
        Logger.Level(rawValue: rawValue) ?? .info
    }
}
