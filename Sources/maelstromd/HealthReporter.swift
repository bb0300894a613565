import Logging
import MaelstromCore
import MaelstromTun
import ServiceLifecycle

/// Logs, at most every ten seconds, the bad input the gateway counted: never one line per packet.
struct HealthReporter: Service {
    let board: SnapshotBoard
    let logger: Logger
    var interval: Duration = .seconds(10)

    func run() async throws {
        var previous: GatewaySnapshot? = nil
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            // Wakes at once on shutdown instead of finishing the sleep.
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
            guard let snapshot = board.read() else { continue }
            defer { previous = snapshot }
            guard let previous else { continue }
            let unknown = snapshot.gateway.unknownSource &- previous.gateway.unknownSource
            if unknown > 0 { logger.warning("dropped \(unknown) datagrams from addresses that are no peer") }
            let noRoute = snapshot.gateway.noRoute &- previous.gateway.noRoute
            if noRoute > 0 { logger.warning("dropped \(noRoute) packets from the TUN device with no peer for their destination") }
            for (index, peer) in snapshot.peers.enumerated() where index < previous.peers.count {
                let malformed = peer.counters.malformed &- previous.peers[index].counters.malformed
                if malformed > 0 { logger.warning("dropped \(malformed) malformed datagrams from peer \(peer.name)") }
                let lost = peer.counters.unrecoverable &- previous.peers[index].counters.unrecoverable
                if lost > 0 { logger.notice("\(lost) packets from peer \(peer.name) were lost and could not be rebuilt") }
            }
            let drops = snapshot.dataPlane.sendQueueDrops &- previous.dataPlane.sendQueueDrops
            if drops > 0 { logger.warning("dropped \(drops) datagrams: the UDP send queue was full") }
        }
    }
}
