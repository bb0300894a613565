import ArgumentParser
import Glibc
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
        // (`main` has forbidden new privileges already, before any other thread started.)
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
        try dropPrivileges(config: config, gateway: gateway, logger: logger)
        var services: [any Service] = [gateway.dataPlaneService, HealthReporter(board: gateway.board, logger: logger)]
        if let split = gateway.splitService { services.append(split) }
        if let listen = config.metricsListen {
            services.append(MetricsService(listen: listen, board: gateway.board, logger: logger, split: gateway.splitService?.counters))
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

extension RunCommand {
    /// Becomes `config.runAs` once the gateway holds its devices and sockets; a failed or partial
    /// drop stops the daemon rather than leave it running with root's power.
    private func dropPrivileges(config: GatewayConfig, gateway: GatewayHost, logger: Logger) throws {
        guard config.splitPeers.isEmpty else {
            // Each onward leg is a new IP_TRANSPARENT socket (CAP_NET_ADMIN or CAP_NET_RAW), and the
            // tproxy table and policy rule must be removed at exit: docs/SPLIT.md, "Privileges".
            logger.warning("keeping uid \(getuid()) and capabilities: split flow control opens transparent sockets per connection and removes its rules at exit")
            return
        }
        guard case .named(let user) = config.runAs else {
            logger.warning("keeping uid \(getuid()) after setup (user: root or no unprivileged account)")
            return
        }
        guard geteuid() == 0 else {
            // Without root there is nothing to switch from, and no CAP_SETUID to switch with.
            logger.warning("started as uid \(geteuid()), not root: user: \(user) is applied only when started as root")
            return
        }
        do {
            let threads = try PrivilegeDrop.drop(to: user)
            gateway.privilegesDropped()
            logger.info(
                "privileges dropped",
                metadata: ["user": "\(user)", "uid": "\(getuid())", "threads": "\(threads.count)", "capabilities": "none", "no_new_privs": "1"])
        } catch {
            // Part-way (the uid switched, a check failed): the routes are out of reach as well.
            if geteuid() != 0 { gateway.privilegesDropped() }
            throw CommandFailure(message: "cannot drop privileges to \(user): \(error)", exitCode: 1)
        }
    }
}

extension LogLevel {
    /// The swift-log level of the same name.
    var swiftLogLevel: Logger.Level {
        Logger.Level(rawValue: rawValue) ?? .info
    }
}
