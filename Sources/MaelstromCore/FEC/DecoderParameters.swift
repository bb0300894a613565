/// How much a decoder remembers: the window of packets it tracks and how long it holds them.
///
/// Memory is `(windowPackets + repairCapacity) × maxPacketSize` bytes (rounded up per slot),
/// fixed at creation.
public struct DecoderParameters: Sendable, Equatable {
    /// Largest data packet accepted and rebuilt, in bytes.
    public var maxPacketSize: Int
    /// Sequence numbers tracked at once, a power of two; older ones are given up.
    public var windowPackets: Int
    /// Repairs missing two or more members that can wait at once for one more to arrive.
    public var repairCapacity: Int
    /// How long a missing packet is waited for, and a received one kept for rebuilding others.
    public var holdNanoseconds: UInt64

    /// Creates parameters from explicit values.
    public init(maxPacketSize: Int, windowPackets: Int, repairCapacity: Int, holdNanoseconds: UInt64) {
        self.maxPacketSize = maxPacketSize
        self.windowPackets = windowPackets
        self.repairCapacity = repairCapacity
        self.holdNanoseconds = holdNanoseconds
    }

    /// Parameters sized for a peer that encodes with `fec`.
    ///
    /// The window covers twice the span of the deepest layer's repair plus its hold-back
    /// (`(r + 1) · I_max`); the hold time covers twice the longest flush deadline, at least 200 ms.
    public init(for fec: FECParameters) {
        let deepest = fec.interleaves.max() ?? 1
        var window = 1024
        while window < 2 * (fec.r + 1) * deepest { window *= 2 }
        let longestDeadline = (0..<fec.c).map { fec.flushDeadline(layer: $0) }.max() ?? fec.flushAfterNanoseconds
        self.init(
            maxPacketSize: fec.maxPacketSize,
            windowPackets: window,
            repairCapacity: window / 2,
            holdNanoseconds: max(200_000_000, 2 * longestDeadline))
    }

    /// Checks that the values can be run with.
    public func validate() throws(FECParameterError) {
        guard maxPacketSize >= 1 && maxPacketSize <= FECParameters.maxPacketSizeLimit else {
            throw FECParameterError(.packetSizeOutOfRange, "max packet size must be between 1 and \(FECParameters.maxPacketSizeLimit), got \(maxPacketSize)")
        }
        guard windowPackets >= 64, windowPackets <= 1 << 20, windowPackets & (windowPackets - 1) == 0 else {
            throw FECParameterError(.windowOutOfRange, "decoder window must be a power of two between 64 and 1048576, got \(windowPackets)")
        }
        guard repairCapacity >= 1 && repairCapacity <= 1 << 20 else {
            throw FECParameterError(.windowOutOfRange, "repair capacity must be between 1 and 1048576, got \(repairCapacity)")
        }
    }

    /// Bytes of packet storage a decoder with these parameters allocates.
    public var memoryBytes: Int { (windowPackets + repairCapacity) * ((maxPacketSize + 63) & ~63) }
}
