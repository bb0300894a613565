import NIOConcurrencyHelpers
import MaelstromCore
import Synchronization

/// Hands the lanes' latest snapshots to readers (metrics, logs) without touching the packet path:
/// each lane publishes about once a second into its own place, readers take the lanes added up.
public final class SnapshotBoard: Sendable {
    private let latest: NIOLockedValueBox<[GatewaySnapshot?]>

    /// Creates an empty board for `lanes` lanes.
    public init(lanes: Int = 1) {
        latest = NIOLockedValueBox(Array(repeating: nil, count: max(1, lanes)))
    }

    /// Replaces lane `lane`'s published snapshot.
    public func publish(_ snapshot: GatewaySnapshot, lane: LaneID = 0) {
        latest.withLockedValue { lanes in
            if lane.index < lanes.count { lanes[lane.index] = snapshot }
        }
    }

    /// The latest snapshots of every lane that has published, added up; nil before the first.
    public func read() -> GatewaySnapshot? {
        GatewaySnapshot.merging(latest.withLockedValue { $0 }.compactMap { $0 })
    }

    /// The latest snapshot of each lane (nil where a lane has not published yet).
    public func readLanes() -> [GatewaySnapshot?] {
        latest.withLockedValue { $0 }
    }
}

/// Asks a running data plane to stop, from any thread.
public final class DataPlaneControl: Sendable {
    private let stopRequested = Atomic<Bool>(false)
    private let wakeup: Wakeup?

    /// A control that interrupts the loop's wait through `wakeup` (none for loops that never sleep).
    public init(wakeup: Wakeup?) { self.wakeup = wakeup }

    /// Makes the data plane flush its partial bins, publish a last snapshot and return.
    public func requestStop() {
        stopRequested.store(true, ordering: .releasing)
        wakeup?.signal()
    }

    /// Whether a stop was requested.
    public var isStopRequested: Bool { stopRequested.load(ordering: .acquiring) }
}
