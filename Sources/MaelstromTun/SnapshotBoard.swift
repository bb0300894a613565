import MaelstromCore
import Synchronization

/// Hands the packet thread's latest snapshot to readers (metrics, logs) without touching the
/// packet path: the packet thread publishes about once a second, readers take a copy.
public final class SnapshotBoard: Sendable {
    private let latest = Mutex<GatewaySnapshot?>(nil)

    /// Creates an empty board.
    public init() {}

    /// Replaces the published snapshot.
    public func publish(_ snapshot: GatewaySnapshot) {
        latest.withLock { $0 = snapshot }
    }

    /// The latest snapshot, if any was published yet.
    public func read() -> GatewaySnapshot? {
        latest.withLock { $0 }
    }
}

/// Asks a running data plane to stop, from any thread.
public final class DataPlaneControl: Sendable {
    private let stopRequested = Atomic<Bool>(false)
    private let wakeup: Wakeup

    init(wakeup: Wakeup) { self.wakeup = wakeup }

    /// Makes the data plane flush its partial bins, publish a last snapshot and return.
    public func requestStop() {
        stopRequested.store(true, ordering: .releasing)
        wakeup.signal()
    }

    /// Whether a stop was requested.
    public var isStopRequested: Bool { stopRequested.load(ordering: .acquiring) }
}
