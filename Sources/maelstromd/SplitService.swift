import Logging
import NIOConcurrencyHelpers
import MaelstromSplit
import MaelstromTun
import ServiceLifecycle

/// Runs the split proxy on its own thread as a lifecycle service, and logs what it refused.
final class SplitService: Service, @unchecked Sendable {
    // Handed to the proxy thread once, in run(); never touched from here afterwards.
    private var proxy: SplitProxy?
    private let control: SplitProxy.Control
    let counters: NIOLockedValueBox<SplitCounters>
    private let logger: Logger

    init(proxy: SplitProxy, logger: Logger) {
        self.proxy = proxy
        self.control = proxy.control
        self.counters = proxy.counters
        self.logger = logger
    }

    func run() async throws {
        guard let handed = proxy else { return }
        proxy = nil
        let (outcome, continuation) = AsyncStream<String?>.makeStream()
        nonisolated(unsafe) let owned = handed
        let thread = try IOThread(name: "mael-split") {
            do {
                try owned.run()
                continuation.yield(nil)
            } catch {
                continuation.yield("\(error)")
            }
            continuation.finish()
        }
        let control = self.control
        let counters = self.counters
        let logger = self.logger
        let failure: String? = await withTaskCancellationOrGracefulShutdownHandler {
            // Reports refusals every ten seconds while the proxy runs; the thread's end stops it.
            let reporter = Task {
                var previous = counters.withLockedValue { $0 }
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(10))
                    let now = counters.withLockedValue { $0 }
                    let full = now.refusedFull &- previous.refusedFull
                    if full > 0 { logger.warning("split: reset \(full) connections: max-connections were open") }
                    let failed = now.connectFailed &- previous.connectFailed
                    if failed > 0 { logger.notice("split: \(failed) connections could not be made onward") }
                    previous = now
                }
            }
            var failure: String? = nil
            for await result in outcome { failure = result }
            reporter.cancel()
            return failure
        } onCancelOrGracefulShutdown: {
            control.requestStop()
        }
        thread.join()
        // The resets just sent are packets in the TUN queue: the packet loops, which stop after
        // this service (services stop in reverse order), need a moment to carry them to the peer.
        try? await Task.sleep(for: .milliseconds(200))
        let final = counters.withLockedValue { $0 }
        logger.info(
            "split proxy stopped",
            metadata: [
                "accepted_local": "\(final.acceptedLocal)", "accepted_tunnel": "\(final.acceptedTunnel)", "closed": "\(final.closed)",
                "reset": "\(final.reset)", "refused_full": "\(final.refusedFull)", "connect_failed": "\(final.connectFailed)",
                "idle_closed": "\(final.idleClosed)",
            ])
        if let failure { throw CommandFailure(message: "split proxy failed: \(failure)", exitCode: 1) }
    }
}

