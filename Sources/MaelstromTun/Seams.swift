import MaelstromCore

/// A source and sink of IP packets in batches: a TUN queue, or an in-memory fake.
///
/// Reads fill a `PacketBatch` whose slots have headroom and tailroom; writes are queued and go
/// out at `flushWrites`, so a device may coalesce them (GRO-style). Confined to one thread.
public protocol PacketDevice: AnyObject {
    /// The descriptor to wait on for readability, or -1 when the device is not a file.
    var pollDescriptor: Int32 { get }
    /// Reads packets into `batch` (emptied first) until it is full or none is waiting; returns
    /// the count. Per-packet problems are counted, never thrown; throws only when the device is gone.
    func readBatch(into batch: PacketBatch) throws(IOError) -> Int
    /// Queues one packet to be written. Its bytes must stay valid until `flushWrites`.
    func enqueueWrite(_ packet: UnsafeRawBufferPointer)
    /// Writes everything queued; refused packets are counted. Throws only when the device is gone.
    func flushWrites() throws(IOError)
    /// What the device refused or did, for the metrics.
    var deviceCounters: PacketDeviceCounters { get }
}

/// What a packet device counted: refusals by cause, and what its offloads did.
public struct PacketDeviceCounters: Sendable, Equatable {
    /// Packets read (after splitting super-segments).
    public var packetsRead: UInt64 = 0
    /// Reads that returned a super-segment, split into packets.
    public var superSegmentsRead: UInt64 = 0
    /// Packets read that did not fit their slot, or malformed offload headers: dropped.
    public var readDropped: UInt64 = 0
    /// Packets written (before coalescing).
    public var packetsWritten: UInt64 = 0
    /// Write system calls that carried several coalesced packets.
    public var coalescedWrites: UInt64 = 0
    /// Packets the device refused on write.
    public var writeDropped: UInt64 = 0
    /// Write queue overflows (more packets queued than fit before a flush): dropped.
    public var writeQueueFull: UInt64 = 0
    /// The offloads in use: 1 virtio-net header, 2 TSO, 4 USO (0 for fakes and plain devices).
    public var offloadBits: UInt64 = 0

    /// Zeroed counters.
    public init() {}

    /// Adds `other`'s counts to these.
    public mutating func add(_ other: PacketDeviceCounters) {
        packetsRead &+= other.packetsRead
        superSegmentsRead &+= other.superSegmentsRead
        readDropped &+= other.readDropped
        packetsWritten &+= other.packetsWritten
        coalescedWrites &+= other.coalescedWrites
        writeDropped &+= other.writeDropped
        writeQueueFull &+= other.writeQueueFull
    }
}

/// A datagram transport in batches: a UDP socket, or an in-memory fake.
public protocol DatagramTransport: AnyObject {
    /// The descriptor to wait on, or -1 when the transport is not a file.
    var pollDescriptor: Int32 { get }
    /// Receives datagrams into `batch`; returns how many it holds (0 when none were waiting).
    func receiveBatch(into batch: DatagramBatch) throws(IOError) -> Int
    /// Sends `batch`'s messages from `start`; returns how many it took off the front. Fewer than
    /// asked means the transport would block: call again when it is writable.
    func sendBatch(_ batch: OutgoingBatch, from start: Int) throws(IOError) -> Int
    /// What the transport refused or did, for the metrics.
    var transportCounters: DatagramTransportCounters { get }
}

/// What a datagram transport counted.
public struct DatagramTransportCounters: Sendable, Equatable {
    /// Datagrams received.
    public var received: UInt64 = 0
    /// Datagrams larger than their slot: dropped.
    public var receiveTruncated: UInt64 = 0
    /// Datagrams handed to the kernel.
    public var sent: UInt64 = 0
    /// Datagrams the kernel refused (unreachable, too big, firewalled): dropped.
    public var sendRefused: UInt64 = 0
    /// Segmented sends (`UDP_SEGMENT`) and coalesced receive runs (`UDP_GRO`).
    public var segmentedSends: UInt64 = 0
    /// Coalesced receive runs.
    public var coalescedReceives: UInt64 = 0
    /// Times the kernel refused segmentation and the transport went back to plain sends.
    public var segmentationFallbacks: UInt64 = 0

    /// Zeroed counters.
    public init() {}

    /// Adds `other`'s counts to these.
    public mutating func add(_ other: DatagramTransportCounters) {
        received &+= other.received
        receiveTruncated &+= other.receiveTruncated
        sent &+= other.sent
        sendRefused &+= other.sendRefused
        segmentedSends &+= other.segmentedSends
        coalescedReceives &+= other.coalescedReceives
        segmentationFallbacks &+= other.segmentationFallbacks
    }
}

/// Which sides of a lane are ready, as a waiter reports them.
public struct Readiness: OptionSet, Sendable {
    /// The raw bits.
    public let rawValue: UInt8
    /// Creates from bits.
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// The packet device has packets to read.
    public static let deviceReadable = Readiness(rawValue: 1)
    /// The transport has datagrams to receive.
    public static let transportReadable = Readiness(rawValue: 2)
    /// The transport can take more datagrams.
    public static let transportWritable = Readiness(rawValue: 4)
}

/// Waits until a lane's device or transport is ready, or a timeout passes.
public protocol ReadinessWaiter: AnyObject {
    /// Waits at most `timeoutNanoseconds` (0: just look). With `transportWritable`, also wakes
    /// when the transport can take datagrams again. Returns what is ready (empty: timeout or a
    /// wakeup from another thread).
    func wait(timeoutNanoseconds: UInt64, transportWritable: Bool) throws(IOError) -> Readiness
}

/// The lane's clock: the core takes time as an input, and this is where the loop reads it.
public protocol DataPlaneClock: AnyObject {
    /// Nanoseconds on a monotonic clock.
    func now() -> UInt64
    /// Nanoseconds since the Unix epoch on the wall clock: handshake timestamps, which must
    /// grow across restarts, are taken from it.
    func wallNanoseconds() -> UInt64
}

extension DataPlaneClock {
    /// For fakes: the monotonic clock (a fake's restarts must then keep counting up).
    public func wallNanoseconds() -> UInt64 { now() }
}

/// `CLOCK_MONOTONIC`, for the daemon.
public final class SystemClock: DataPlaneClock {
    /// Creates the clock.
    public init() {}
    /// Nanoseconds on `CLOCK_MONOTONIC`.
    @inlinable public func now() -> UInt64 { MonotonicClock.now() }
    /// Nanoseconds on `CLOCK_REALTIME`.
    public func wallNanoseconds() -> UInt64 { MonotonicClock.wallNanoseconds() }
}
