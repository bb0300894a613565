import Logging
import MaelstromConfig
import MaelstromCore
import MaelstromTun
import ServiceLifecycle

/// Sets up what a running gateway needs from the system — TUN device, address, routes, UDP
/// socket, the packet thread — and undoes it at the end.
final class GatewayHost {
    let board = SnapshotBoard()
    let dataPlaneService: DataPlaneService
    private let tun: TunDevice
    private let socket: UDPSocket
    private let logger: Logger
    private var routes: [IPPrefix] = []

    init(config: GatewayConfig, logger: Logger) throws {
        self.logger = logger
        do {
            tun = try TunDevice(name: config.tunName)
            try tun.setMTU(config.tunMTU)
            // The kernel's default of 500 packets drops bursts (about 6 ms at 1 Gbit/s) whenever
            // the packet thread is briefly busy; 1000 absorbs them without building a long queue.
            try tun.setTransmitQueueLength(1000)
            if let address = config.tunAddress { try tun.addAddress(address.description) }
            try tun.setUp()
        } catch {
            throw CommandFailure(message: "cannot set up TUN device \(config.tunName): \(error)", exitCode: 1)
        }
        guard let listen = SocketAddress(config.listen) else {
            throw CommandFailure.badInput("listen address \(config.listen) is not usable")
        }
        do {
            socket = try UDPSocket(binding: listen)
        } catch {
            tun.close()
            throw CommandFailure(message: "cannot listen on \(config.listen): \(error)", exitCode: 1)
        }
        let peerAddresses = config.peers.compactMap { SocketAddress($0.endpoint) }
        var random = SystemRandomNumberGenerator()
        let streams = config.peers.map { _ in StreamID.random(using: &random) }
        let gateway = Gateway(settings: config.gatewaySettings, streams: streams, now: MonotonicClock.now())
        for (peer, stream) in zip(config.peers, streams) {
            logger.info("encoding for peer \(peer.name) as stream \(stream)")
        }
        let names = config.peers.map(\.name)
        let eventLogger = logger
        let dataPlane: DataPlane
        do {
            dataPlane = try DataPlane(
                gateway: gateway, tun: tun, socket: socket, peerAddresses: peerAddresses, board: board,
                onEvent: { event in eventLogger.notice("\(event.describe(peerNames: names))") })
        } catch {
            throw CommandFailure(message: "cannot start the packet loop: \(error)", exitCode: 1)
        }
        dataPlaneService = DataPlaneService(dataPlane: dataPlane, logger: logger)
        if config.manageRoutes {
            for peer in config.peers {
                for subnet in peer.subnets {
                    do {
                        try tun.addRoute(prefix: subnet.description)
                        routes.append(subnet)
                    } catch {
                        logger.error("cannot add route \(subnet) via \(tun.name): \(error)")
                        tearDown()
                        throw CommandFailure(message: "cannot add route \(subnet) via \(tun.name): \(error)", exitCode: 1)
                    }
                }
            }
            logger.info("routes installed", metadata: ["routes": "\(routes.map(\.description).joined(separator: ","))"])
        }
    }

    /// Removes the routes this process added and closes the device and socket.
    func tearDown() {
        for route in routes {
            do {
                try tun.removeRoute(prefix: route.description)
            } catch {
                logger.warning("cannot remove route \(route): \(error)")
            }
        }
        routes.removeAll()
        socket.close()
        tun.close()
    }
}

extension GatewayEvent {
    /// A log line for the event.
    func describe(peerNames: [String]) -> String {
        switch self {
        case .peerUp(let peer): "peer \(peerNames[peer]) is up"
        case .peerDown(let peer): "peer \(peerNames[peer]) is down: nothing heard within the peer timeout"
        case .peerRestarted(let peer): "peer \(peerNames[peer]) restarted: decoding its new stream"
        }
    }
}
