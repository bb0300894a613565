import CTun
import Logging
import MaelstromConfig
import MaelstromCore
import MaelstromSecurity
import MaelstromSplit
import MaelstromTun
import ServiceLifecycle

/// The daemon's lane loop: a TUN queue, a UDP socket and epoll, on the system clock.
typealias DaemonLoop = DataPlaneLoop<TunDevice, UDPSocket, EpollWaiter, SystemClock>

/// Sets up what a running gateway needs from the system — TUN queues, address, routes, UDP
/// sockets, one packet loop per lane — and undoes it at the end.
final class GatewayHost {
    let board: SnapshotBoard
    let dataPlaneService: DataPlaneService
    let laneCount: Int
    private let tuns: [TunDevice]
    private let sockets: [UDPSocket]
    private let logger: Logger
    private var routes: [IPPrefix] = []
    /// The split proxy and the rules that feed it, when some peer has `flow-control: split`.
    private(set) var splitService: SplitService?
    private var splitRules: SplitRules?
    /// Set once the process gave up its capabilities: routes can no longer be removed by hand,
    /// and need not be, since the kernel deletes them with the TUN device when its queues close.
    private var privileged = true

    init(config: GatewayConfig, logger: Logger) throws {
        self.logger = logger
        let lanes = config.lanes.resolved(cores: Int(ctun_available_cpus()))
        laneCount = lanes
        board = SnapshotBoard(lanes: lanes)
        var tuns: [TunDevice] = []
        do {
            // One queue per lane; the kernel spreads flows over the queues and keeps each flow on one.
            for _ in 0..<lanes {
                tuns.append(try TunDevice(name: config.tunName, multiQueue: lanes > 1, offloads: config.tunOffload))
            }
            let tun = tuns[0]
            if let refusal = tun.offloadRefusal {
                logger.warning("TUN offloads off (one packet per read and write): \(refusal)")
            }
            logger.info("TUN offloads: \(tun.offloads)\(config.tunOffload ? "" : " (tun.offload: false)")")
            try tun.setMTU(config.tunMTU)
            // The kernel's default of 500 packets drops bursts (about 6 ms at 1 Gbit/s) whenever
            // a lane is briefly busy; 1000 absorbs them without building a long queue.
            try tun.setTransmitQueueLength(1000)
            if let address = config.tunAddress { try tun.addAddress(address.description) }
            try tun.setUp()
        } catch {
            tuns.forEach { $0.close() }
            throw CommandFailure(message: "cannot set up TUN device \(config.tunName): \(error)", exitCode: 1)
        }
        self.tuns = tuns
        guard let listen = SocketAddress(config.listen) else {
            throw CommandFailure.badInput("listen address \(config.listen) is not usable")
        }
        var sockets: [UDPSocket] = []
        do {
            for _ in 0..<lanes { sockets.append(try UDPSocket(binding: listen, reusePort: lanes > 1)) }
            // Bound in lane order, so the kernel's steering (lane byte mod lanes) finds lane i at i.
            if lanes > 1 { try sockets[0].steerByLane(lanes: lanes) }
        } catch {
            sockets.forEach { $0.close() }
            tuns.forEach { $0.close() }
            throw CommandFailure(message: "cannot listen on \(config.listen): \(error)", exitCode: 1)
        }
        self.sockets = sockets
        let peerAddresses = config.peers.compactMap { SocketAddress($0.endpoint) }
        let names = config.peers.map(\.name)
        let events = PeerEventLog(peerNames: names, logger: logger)
        let tunnel: SecureTunnel?
        do {
            tunnel = try Self.makeTunnel(config: config)
        } catch {
            sockets.forEach { $0.close() }
            tuns.forEach { $0.close() }
            throw CommandFailure.badInput("cannot set up encryption: \(error)")
        }
        // (security: none is warned about with the config's other warnings.)
        if tunnel != nil, case .noise(let key, _) = config.security {
            logger.info("frames sealed (Noise_IKpsk2_25519_ChaChaPoly_SHA256); this gateway's public key: \(key.publicKey)")
        }
        var random = SystemRandomNumberGenerator()
        var loops: [DaemonLoop] = []
        do {
            for lane in 0..<lanes {
                let laneID = LaneID(UInt8(lane))
                let streams = config.peers.map { _ in StreamID.random(using: &random) }
                let gateway = Gateway(settings: config.gatewaySettings, lane: laneID, streams: streams, now: MonotonicClock.now())
                for (peer, stream) in zip(config.peers, streams) {
                    logger.info("lane \(lane) encoding for peer \(peer.name) as stream \(stream)")
                }
                let waiter = try EpollWaiter(deviceFD: tuns[lane].fd, transportFD: sockets[lane].fd)
                loops.append(
                    DaemonLoop(
                        gateway: gateway, device: tuns[lane], transport: sockets[lane], waiter: waiter, clock: SystemClock(),
                        peerAddresses: peerAddresses, board: board, control: DataPlaneControl(wakeup: waiter.wakeup),
                        spinNanoseconds: config.busyPoll, security: tunnel.map { LaneSecurity(lane: laneID, tunnel: $0) }, onEvent: { event in events.record(event, lane: laneID) }))
            }
        } catch {
            throw CommandFailure(message: "cannot start the packet loop: \(error)", exitCode: 1)
        }
        logger.info("\(lanes) lane\(lanes == 1 ? "" : "s") (lanes: \(config.lanes))")
        dataPlaneService = DataPlaneService(loops: loops, logger: logger)
        if config.manageRoutes {
            for peer in config.peers {
                for subnet in peer.subnets {
                    do {
                        try tuns[0].addRoute(prefix: subnet.description)
                        routes.append(subnet)
                    } catch {
                        logger.error("cannot add route \(subnet) via \(tuns[0].name): \(error)")
                        tearDown()
                        throw CommandFailure(message: "cannot add route \(subnet) via \(tuns[0].name): \(error)", exitCode: 1)
                    }
                }
            }
            logger.info("routes installed", metadata: ["routes": "\(routes.map(\.description).joined(separator: ","))"])
        }
        if let rules = SplitRules(config: config) {
            do {
                let proxy = try SplitProxy(settings: SplitProxy.Settings(config.split))
                if proxy.descriptorLimit < proxy.descriptorsNeeded {
                    logger.warning(
                        "split: the descriptor limit \(proxy.descriptorLimit) is below the \(proxy.descriptorsNeeded) that max-connections \(config.split.maxConnections) needs (6 each); connections beyond it are reset (raise LimitNOFILE)")
                }
                try rules.install()
                splitRules = rules
                splitService = SplitService(proxy: proxy, logger: logger)
            } catch {
                tearDown()
                throw CommandFailure(message: "cannot set up split flow control: \(error)", exitCode: 1)
            }
            let split = config.split
            logger.info(
                "split flow control on",
                metadata: [
                    "peers": "\(config.splitPeers.map(\.name).joined(separator: ","))", "listen": "\(split.listenPort),\(split.listenPort + 1)",
                    "nft_table": "\(rules.tableName)", "max_connections": "\(split.maxConnections)",
                    "memory_bound": "\(split.memoryBound)", "wan_congestion": "\(split.wanCongestion)",
                ])
        }
    }

    /// The handshakes with every peer, or nil under `security: none`.
    private static func makeTunnel(config: GatewayConfig) throws -> SecureTunnel? {
        guard case .noise(let privateKey, _) = config.security else { return nil }
        var peers: [(publicKey: PublicKey, presharedKey: PresharedKey?)] = []
        for peer in config.peers {
            // The loader refuses a sealed config without every peer's key.
            guard let key = peer.publicKey else { throw CommandFailure.badInput("peer \(peer.name) has no public-key") }
            peers.append((key, peer.presharedKey))
        }
        return try SecureTunnel(settings: TunnelSettings(privateKey: privateKey, peers: peers), now: MonotonicClock.now())
    }

    /// Called after the drop to `user:`: from now on the routes go with the device.
    func privilegesDropped() {
        privileged = false
    }

    /// Removes the routes this process added (while it still may) and closes the devices and
    /// sockets; closing the last queue deletes the TUN device and every route through it.
    func tearDown() {
        if let rules = splitRules {
            for failure in rules.remove() { logger.warning("cannot remove split rules: \(failure)") }
            splitRules = nil
        }
        for route in routes where privileged {
            do {
                try tuns[0].removeRoute(prefix: route.description)
            } catch {
                logger.warning("cannot remove route \(route): \(error)")
            }
        }
        routes.removeAll()
        sockets.forEach { $0.close() }
        tuns.forEach { $0.close() }
    }
}
