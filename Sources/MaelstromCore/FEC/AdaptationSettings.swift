/// How a sender chooses its code: one fixed code, or the cheapest one the measured loss allows.
public enum FECMode: String, Sendable, Equatable, CaseIterable {
    /// Always the configured code.
    case fixed
    /// The code picked by `AdaptivePolicy` from the receiver's loss reports.
    case adaptive
}

/// How late a rebuilt packet may typically come before the policy counts it as late.
///
/// A packet rebuilt after the end hosts' TCP gave up waiting for it is retransmitted anyway (a
/// spurious retransmission; Linux undoes the window cut when the duplicate is reported), so the
/// policy keeps such late rebuilds rare (`AdaptivePolicy.lateShareLimit`).
public enum RecoveryBudget: Sendable, Equatable {
    /// The path's round-trip time between the gateways (the least of the last 10 to 20 s of
    /// keepalive echoes): how long TCP waits for a reordered segment is of that order.
    case roundTrip
    /// A fixed time in nanoseconds (for latency-sensitive traffic: a few milliseconds).
    case fixed(nanoseconds: UInt64)
}

/// The knobs of adaptive FEC (`fec:` in the config).
public struct AdaptationSettings: Sendable, Equatable {
    /// Fixed or adaptive.
    public var mode: FECMode
    /// The residual loss (after decoding) the policy aims below.
    public var targetResidual: Double
    /// The least repair overhead ever used, so sporadic single losses are still repaired.
    public var minOverhead: Double
    /// The most repair overhead ever used.
    public var maxOverhead: Double
    /// How long a lower need must last before the code steps down, in nanoseconds.
    public var stepDownAfterNanoseconds: UInt64
    /// How often a receiver reports what it measured, in nanoseconds.
    public var reportIntervalNanoseconds: UInt64
    /// Queue delay above which (and above half the minute's peak) the receiver calls the path
    /// congested and keeps its losses out of the reports; 0 counts every loss.
    public var congestionDelayNanoseconds: UInt64
    /// How late a typical rebuild may come (see `RecoveryBudget`).
    public var recoveryBudget: RecoveryBudget

    /// How often keepalives go while data flows in adaptive mode: they are the delay probes.
    public static let probeIntervalNanoseconds: UInt64 = 50_000_000

    /// The defaults: adaptive off (the core's callers opt in; the daemon's config defaults to
    /// adaptive), target 1e-6, overhead between 0.03 and 0.5, down after 1.5 s, reports every 250 ms,
    /// congestion above 5 ms of queue, rebuilds within the path's round trip.
    public init(
        mode: FECMode = .fixed, targetResidual: Double = 1e-6, minOverhead: Double = 0.03, maxOverhead: Double = 0.5,
        stepDownAfterNanoseconds: UInt64 = 1_500_000_000, reportIntervalNanoseconds: UInt64 = 250_000_000,
        congestionDelayNanoseconds: UInt64 = 5_000_000, recoveryBudget: RecoveryBudget = .roundTrip
    ) {
        self.congestionDelayNanoseconds = congestionDelayNanoseconds
        self.mode = mode
        self.targetResidual = targetResidual
        self.minOverhead = minOverhead
        self.maxOverhead = maxOverhead
        self.stepDownAfterNanoseconds = stepDownAfterNanoseconds
        self.reportIntervalNanoseconds = reportIntervalNanoseconds
        self.recoveryBudget = recoveryBudget
    }
}
