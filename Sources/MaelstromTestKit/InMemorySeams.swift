import MaelstromCore
import MaelstromTun

/// A packet device in memory: the test queues packets to be read and sees what was written.
///
/// It copies (and allocates) freely: it is for unit tests of the data-plane loop, not for speed.
public final class InMemoryPacketDevice: PacketDevice {
    /// Packets waiting to be read, oldest first.
    public var incoming: [[UInt8]] = []
    /// Packets written, in order (after each flush).
    public private(set) var written: [[UInt8]] = []
    /// Packets queued and not yet flushed.
    public private(set) var queued: [[UInt8]] = []
    /// Times `flushWrites` was called with something queued.
    public private(set) var flushes = 0
    /// Refuse writes (the kernel dropping them): they are counted, not written.
    public var refuseWrites = false
    /// What the device counted.
    public private(set) var deviceCounters = PacketDeviceCounters()

    /// An empty device.
    public init() {}

    /// Not a file.
    public var pollDescriptor: Int32 { -1 }

    /// Moves up to the batch's capacity of waiting packets into it.
    public func readBatch(into batch: PacketBatch) throws(IOError) -> Int {
        batch.removeAll()
        while batch.freeSlots > 0, !incoming.isEmpty {
            let packet = incoming.removeFirst()
            let slot = batch.slot(batch.count)
            guard packet.count <= slot.count else {
                deviceCounters.readDropped &+= 1
                continue
            }
            packet.withUnsafeBytes { slot.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: packet.count) }
            batch.commit(length: packet.count)
            deviceCounters.packetsRead &+= 1
        }
        return batch.count
    }

    /// Keeps a copy until the flush.
    public func enqueueWrite(_ packet: UnsafeRawBufferPointer) { queued.append(Array(packet)) }

    /// Records what was queued as written (or refused).
    public func flushWrites() throws(IOError) {
        guard !queued.isEmpty else { return }
        flushes += 1
        if refuseWrites {
            deviceCounters.writeDropped &+= UInt64(queued.count)
        } else {
            written += queued
            deviceCounters.packetsWritten &+= UInt64(queued.count)
        }
        queued.removeAll()
    }
}

/// A datagram transport in memory, with a send queue that can fill up (it then takes only what
/// fits, as a nonblocking socket does, until `sendRoom` grows again).
public final class InMemoryTransport: DatagramTransport {
    /// This transport's own address (the source of what it sends).
    public let address: SocketAddress
    /// Datagrams waiting to be received, with their senders.
    public var incoming: [(bytes: [UInt8], source: SocketAddress)] = []
    /// Datagrams sent, in order, with their destinations.
    public private(set) var sent: [(bytes: [UInt8], destination: SocketAddress)] = []
    /// How many more datagrams the send queue takes; nil for no limit.
    public var sendRoom: Int? = nil
    /// Destinations the kernel would refuse (unreachable): counted, skipped.
    public var refusedDestinations: [SocketAddress] = []
    /// What the transport counted.
    public private(set) var transportCounters = DatagramTransportCounters()

    /// A transport at `address`.
    public init(address: SocketAddress) { self.address = address }

    /// Not a file.
    public var pollDescriptor: Int32 { -1 }

    /// Whether a send now would take at least one datagram.
    public var isWritable: Bool { sendRoom.map { $0 > 0 } ?? true }

    /// Moves waiting datagrams into the batch.
    public func receiveBatch(into batch: DatagramBatch) throws(IOError) -> Int {
        batch.beginFilling()
        while batch.count < batch.capacity, !incoming.isEmpty {
            let (bytes, source) = incoming.removeFirst()
            let taken = bytes.withUnsafeBytes { batch.append($0, from: source) }
            if taken { transportCounters.received &+= 1 } else { transportCounters.receiveTruncated &+= 1 }
        }
        return batch.count
    }

    /// Takes what fits of the batch from `start`.
    public func sendBatch(_ batch: OutgoingBatch, from start: Int) throws(IOError) -> Int {
        var index = start
        while index < batch.count {
            if let room = sendRoom {
                guard room > 0 else { break }
                sendRoom = room - 1
            }
            let message = batch.message(at: index)
            let destination = message.destination!
            if refusedDestinations.contains(destination) {
                transportCounters.sendRefused &+= 1
            } else {
                sent.append((Array(message.header) + Array(message.payload), destination))
                transportCounters.sent &+= 1
            }
            index += 1
        }
        return index - start
    }

    /// Forgets what was sent (after a test has moved it on).
    public func takeSent() -> [(bytes: [UInt8], destination: SocketAddress)] {
        defer { sent.removeAll() }
        return sent
    }
}

/// Readiness as the fakes' state says: packets waiting, datagrams waiting, room to send.
public final class InMemoryWaiter: ReadinessWaiter {
    /// The device watched.
    public let device: InMemoryPacketDevice
    /// The transport watched.
    public let transport: InMemoryTransport
    /// Every readiness reported, in order (to check what the loop asked to wait for).
    public private(set) var askedForWritable: [Bool] = []

    /// Watches `device` and `transport`.
    public init(device: InMemoryPacketDevice, transport: InMemoryTransport) {
        self.device = device
        self.transport = transport
    }

    /// Reports at once; a loop that waits for writability is not told the device is readable.
    public func wait(timeoutNanoseconds: UInt64, transportWritable: Bool) throws(IOError) -> Readiness {
        askedForWritable.append(transportWritable)
        var ready: Readiness = []
        if !device.incoming.isEmpty && !transportWritable { ready.insert(.deviceReadable) }
        if !transport.incoming.isEmpty { ready.insert(.transportReadable) }
        if transportWritable && transport.isWritable { ready.insert(.transportWritable) }
        return ready
    }
}

/// A clock the test moves by hand.
public final class ManualClock: DataPlaneClock {
    /// The time, in nanoseconds.
    public var time: UInt64
    /// A clock at `time`.
    public init(time: UInt64 = 1_000_000_000) { self.time = time }
    /// The current time.
    public func now() -> UInt64 { time }
}
