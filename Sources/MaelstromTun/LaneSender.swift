import MaelstromCore

/// Everything about sending one lane's frames: the batch, where an interrupted send stopped, and
/// whether the transport is blocked. It never waits: a full socket queue leaves the rest of the
/// batch pending until the transport is writable again (EPOLLOUT), and the lane reads no more
/// packets meanwhile, since its data frames point into the packet slots.
///
/// Confined to its lane's thread. Allocates nothing after `init`.
final class LaneSender<Transport: DatagramTransport> {
    let batch: OutgoingBatch
    let transport: Transport
    let counters: UnsafeMutablePointer<DataPlaneCounters>
    /// How long the transport may stay blocked before the pending frames are given up.
    let stallNanoseconds: UInt64
    /// The first message of the batch not yet handed to the transport.
    private(set) var pending = 0
    /// The lane's clock as of its current turn (the lane sets it; sends do not read a clock).
    var now: UInt64 = 0
    private(set) var blockedSince: UInt64? = nil

    init(batch: OutgoingBatch, transport: Transport, counters: UnsafeMutablePointer<DataPlaneCounters>, stallNanoseconds: UInt64) {
        self.batch = batch
        self.transport = transport
        self.counters = counters
        self.stallNanoseconds = stallNanoseconds
    }

    /// Whether frames are waiting for the transport to become writable.
    var isBlocked: Bool { blockedSince != nil }

    /// Queues a frame that stays where it is until sent.
    @inline(__always)
    func queue(frame: UnsafeRawBufferPointer, to destination: SocketAddress) {
        if batch.isFull { flushIfUnblocked() }
        guard batch.append(header: UnsafeRawBufferPointer(start: nil, count: 0), payload: frame, to: destination) else {
            counters.pointee.sendQueueDrops &+= 1
            return
        }
    }

    /// Queues a frame written into the batch's own memory.
    @inline(__always)
    func queueCopy(to destination: SocketAddress, capacity: Int, write: (UnsafeMutableRawPointer) -> Int) {
        if batch.isFull { flushIfUnblocked() }
        let queued = batch.append(to: destination, payload: UnsafeRawBufferPointer(start: nil, count: 0)) { slot in
            guard capacity <= slot.count, let base = slot.baseAddress else { return -1 }
            return write(base)
        }
        if !queued { counters.pointee.sendQueueDrops &+= 1 }
    }

    /// Hands what is queued to the transport; returns true when nothing is left pending.
    /// On a full socket queue it remembers where it stopped and reports blocked.
    @discardableResult
    func flush(now: UInt64) throws(IOError) -> Bool {
        while pending < batch.count {
            let taken = try transport.sendBatch(batch, from: pending)
            counters.pointee.sendBatches &+= 1
            pending += taken
            if pending < batch.count {
                if blockedSince == nil {
                    blockedSince = now
                    counters.pointee.sendBlocked &+= 1
                } else if now &- blockedSince! >= stallNanoseconds {
                    // Stuck for longer than any queue should drain: give these up, carry on.
                    counters.pointee.sendStallDrops &+= UInt64(batch.count - pending)
                    break
                }
                return false
            }
        }
        batch.removeAll()
        pending = 0
        blockedSince = nil
        return true
    }

    /// Makes room by sending, unless the transport is known to be blocked (then the caller drops).
    private func flushIfUnblocked() {
        guard !isBlocked else { return }
        _ = try? flush(now: now)
    }
}

/// The lane's `GatewayOutput`: frames go to the `LaneSender`, packets to the device's write queue.
struct LaneOutput<Device: PacketDevice, Transport: DatagramTransport>: GatewayOutput {
    let sender: LaneSender<Transport>
    let device: Device
    let peerAddresses: [SocketAddress]

    @inline(__always)
    mutating func send(frame: UnsafeRawBufferPointer, toPeer peer: PeerID) {
        sender.queue(frame: frame, to: peerAddresses[peer.index])
    }

    @inline(__always)
    mutating func send(toPeer peer: PeerID, capacity: Int, write: (UnsafeMutableRawPointer) -> Int) {
        sender.queueCopy(to: peerAddresses[peer.index], capacity: capacity, write: write)
    }

    @inline(__always)
    mutating func deliver(_ packet: UnsafeRawBufferPointer, fromPeer peer: PeerID) {
        device.enqueueWrite(packet)
    }
}
