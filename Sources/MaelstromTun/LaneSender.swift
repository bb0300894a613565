import MaelstromCore
import MaelstromSecurity

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

/// The lane's `GatewayOutput`: frames go to the `LaneSender` (sealed first when the lane has
/// security), packets to the device's write queue.
struct LaneOutput<Device: PacketDevice, Transport: DatagramTransport>: GatewayOutput {
    let sender: LaneSender<Transport>
    let device: Device
    let peerAddresses: [SocketAddress]
    let security: LaneSecurity?

    @inline(__always)
    mutating func send(frame: UnsafeRawBufferPointer, toPeer peer: PeerID) {
        guard let security else {
            sender.queue(frame: frame, to: peerAddresses[peer.index])
            return
        }
        // Sealed where it lies: the gateway left room for the tag after it.
        let base = UnsafeMutableRawPointer(mutating: frame.baseAddress!)
        let sealed = security.seal(frame: base, length: frame.count, peer: peer, now: sender.now)
        guard sealed > 0 else { return }
        sender.queue(frame: UnsafeRawBufferPointer(start: base, count: sealed), to: peerAddresses[peer.index])
    }

    @inline(__always)
    mutating func send(toPeer peer: PeerID, capacity: Int, write: (UnsafeMutableRawPointer) -> Int) {
        guard let security else {
            sender.queueCopy(to: peerAddresses[peer.index], capacity: capacity, write: write)
            return
        }
        let now = sender.now
        // Checked first, so a frame with no session to seal it is counted as such, not as a queue drop.
        guard security.readyToSeal(peer: peer, now: now) else { return }
        sender.queueCopy(to: peerAddresses[peer.index], capacity: capacity + WireFormat.sealOverhead) { slot in
            let length = write(slot)
            guard length > 0 else { return length }
            let sealed = security.seal(frame: slot, length: length, peer: peer, now: now)
            return sealed > 0 ? sealed : -1
        }
    }

    /// Queues a handshake message (already complete: handshake messages are not sealed).
    mutating func sendHandshake(_ message: UnsafeRawBufferPointer, toPeer peer: PeerID) {
        sender.queueCopy(to: peerAddresses[peer.index], capacity: message.count) { slot in
            slot.copyMemory(from: message.baseAddress!, byteCount: message.count)
            return message.count
        }
    }

    @inline(__always)
    mutating func deliver(_ packet: UnsafeRawBufferPointer, fromPeer peer: PeerID) {
        device.enqueueWrite(packet)
    }
}
