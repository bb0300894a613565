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
    /// What it takes for another sender stream to replace the one decoded (see `StreamLifecycle`).
    public var streamConfirmation: StreamConfirmation

    /// Creates parameters from explicit values.
    public init(
        maxPacketSize: Int, windowPackets: Int, repairCapacity: Int, holdNanoseconds: UInt64,
        streamConfirmation: StreamConfirmation = StreamConfirmation()
    ) {
        self.maxPacketSize = maxPacketSize
        self.windowPackets = windowPackets
        self.repairCapacity = repairCapacity
        self.holdNanoseconds = holdNanoseconds
        self.streamConfirmation = streamConfirmation
    }

    /// Parameters sized for a peer that encodes with `fec` in `mode`.
    ///
    /// The window covers twice the span of the deepest layer's repair plus its hold-back
    /// (`(r + 1) · I_max`), and in adaptive mode at least `adaptiveWindowPackets`, which the
    /// ladder's codes of high r need (`CodeLadder`); the hold time covers twice the longest flush
    /// deadline, at least 200 ms.
    public init(for fec: FECParameters, mode: FECMode = .fixed) {
        let deepest = fec.interleaves.max() ?? 1
        var window = mode == .adaptive ? Self.adaptiveWindowPackets : 1024
        while window < 2 * (fec.r + 1) * deepest { window *= 2 }
        let longestDeadline = fec.longestFlushDeadline
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
        guard windowPackets >= 64, windowPackets <= Self.maxWindowPackets, windowPackets & (windowPackets - 1) == 0 else {
            throw FECParameterError(.windowOutOfRange, "decoder window must be a power of two between 64 and \(Self.maxWindowPackets), got \(windowPackets)")
        }
        guard repairCapacity >= 1 && repairCapacity <= Self.maxWindowPackets else {
            throw FECParameterError(.windowOutOfRange, "repair capacity must be between 1 and \(Self.maxWindowPackets), got \(repairCapacity)")
        }
        guard streamConfirmation.frames >= 2 && streamConfirmation.frames <= 16 else {
            throw FECParameterError(.windowOutOfRange, "stream confirmation must take between 2 and 16 frames, got \(streamConfirmation.frames)")
        }
    }

    /// The largest window a decoder may have.
    public static let maxWindowPackets = 1 << 20

    /// The least window in adaptive mode: spans of 4,096 packets hold two-layer codes up to
    /// r = 62 (0.032 overhead), which rebuild 0.1 % random loss for what a clean link costs.
    public static let adaptiveWindowPackets = 8192

    /// Bytes a decoder with these parameters allocates (packet storage and bookkeeping).
    public var memoryBytes: Int {
        let slot = (maxPacketSize + 63) & ~63
        let perSlot = slot + 24 + 4 * FECParameters.maxLayers
        let perRepair = slot + 40 + 8
        let heldFrames = StreamConfirmation.candidates * streamConfirmation.frames
            * ((maxPacketSize + WireFormat.maxHeaderSize + 63) & ~63)
        return windowPackets * perSlot + repairCapacity * perRepair + heldFrames
    }
}

/// What it takes for a decoder to follow a new sender stream, or to jump far ahead in its own.
public struct StreamConfirmation: Sendable, Equatable {
    /// Unconfirmed streams tracked at once (each holds up to `frames` frames).
    public static let candidates = 2

    /// Consistent frames that confirm a new stream when the current one is silent, or a jump
    /// beyond the window; also how many frames of an unconfirmed stream are held for replay.
    public var frames: Int
    /// Silence of the current stream after which frames alone may confirm another (the sender's
    /// keepalive confirms at once); set it near the peer timeout.
    public var silenceNanoseconds: UInt64

    /// The defaults: 3 frames, 3 s of silence.
    public init(frames: Int = 3, silenceNanoseconds: UInt64 = 3_000_000_000) {
        self.frames = frames
        self.silenceNanoseconds = silenceNanoseconds
    }
}
