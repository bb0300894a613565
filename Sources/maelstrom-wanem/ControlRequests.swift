import Dispatch
import Glibc
import MaelstromTun
import Synchronization

/// Requests from signals to the packet loop: a flag word plus the loop's `Wakeup`.
///
/// Signal handlers may do almost nothing safely, so the signals are delivered by Dispatch on its own
/// thread, which only sets a bit and wakes the loop; the loop does the work (printing, stopping) itself.
final class ControlRequests: Sendable {
    /// Print the counters line.
    static let report: UInt32 = 1
    /// Print the counters line and stop.
    static let stop: UInt32 = 2

    private let pending = Atomic<UInt32>(0)
    private let wakeup: Wakeup

    /// Creates requests that interrupt the loop owning `wakeup`.
    init(wakeup: Wakeup) { self.wakeup = wakeup }

    /// Adds `request` and wakes the loop.
    func post(_ request: UInt32) {
        pending.bitwiseOr(request, ordering: .releasing)
        wakeup.signal()
    }

    /// The requests posted since the last call, cleared.
    @inline(__always)
    func take() -> UInt32 {
        pending.load(ordering: .relaxed) == 0 ? 0 : pending.exchange(0, ordering: .acquiring)
    }

    /// Routes SIGTERM and SIGINT to `stop` and SIGUSR1 to `report`; keep the result alive while running.
    func installSignalSources() -> [any DispatchSourceSignal] {
        let queue = DispatchQueue(label: "maelstrom-wanem.signals")
        let routes: [(Int32, UInt32)] = [(SIGTERM, Self.stop), (SIGINT, Self.stop), (SIGUSR1, Self.report)]
        return routes.map { signalNumber, request in
            // The default actions would kill the process before Dispatch sees the signal.
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
            source.setEventHandler { [self] in post(request) }
            source.resume()
            return source
        }
    }
}
