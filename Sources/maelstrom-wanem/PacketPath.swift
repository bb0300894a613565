import MaelstromCore

/// The emulator's per-packet work without its system calls: decide with the link, hold, hand back when due.
///
/// The run loop drives it with the TUN and the real clock; the benchmark drives the very same code with
/// virtual time, so what it measures is what the emulator spends per packet besides `read` and `write`.
/// Confined to one thread (not Sendable).
final class PacketPath {
    /// The impaired link's state machine.
    private(set) var link: WANLink
    /// Packets in flight.
    let line: DelayLine
    /// What happened to accepted packets.
    var counters = EmulatorCounters()

    /// Creates a path for `link`, holding packets in `line`.
    init(link: WANLink, line: DelayLine) {
        self.link = link
        self.line = line
    }

    /// Takes one packet that arrived at `now`: the link decides, and an accepted packet is copied into the line.
    @inline(__always)
    func arrive(_ packet: UnsafeRawBufferPointer, now: UInt64) {
        guard packet.count <= WANLink.maxPacketLength else {
            counters.droppedOversize &+= 1
            return
        }
        switch link.offer(length: packet.count, now: now) {
        case .accepted(let departure):
            hold(packet, departure: departure)
        case .duplicated(let departure):
            hold(packet, departure: departure)
            hold(packet, departure: departure)
        case .lost, .queueFull, .outage:
            break
        }
    }

    @inline(__always)
    private func hold(_ packet: UnsafeRawBufferPointer, departure: UInt64) {
        switch line.hold(packet, departure: departure) {
        case .held: break
        case .full: counters.droppedLine &+= 1
        case .oversize: counters.droppedOversize &+= 1
        }
    }

    /// The earliest departure held, or `UInt64.max` when nothing is in flight.
    @inline(__always)
    var nextDeparture: UInt64 { line.nextDeparture }
}
