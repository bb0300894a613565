import MaelstromCore
import MaelstromSecurity

/// A sealed lane fed datagrams from its peer's address: whatever arrives, nothing traps, nothing
/// without a session's tag opens, and handshake messages go to the tunnel, which refuses forgeries.
enum SealedFuzz {
    private static let peerEndpoint = Endpoint("192.0.2.2:4500")!
    /// Fixed keys, so a run depends on its input only.
    private static let ownKey = PrivateKey(bytes: Array(repeating: 0x11, count: 32))!
    private static let peerKey = PrivateKey(bytes: Array(repeating: 0x22, count: 32))!.publicKey

    /// One tunnel for every run: setting one up costs more than a hundred runs (its key agreement),
    /// and since no run can make a session, what a run leaves behind is timers and cookies only.
    nonisolated(unsafe) private static let shared: (tunnel: SecureTunnel, lane: LaneSecurity) = {
        let tunnel = try! SecureTunnel(settings: TunnelSettings(privateKey: ownKey, peers: [(peerKey, nil)]), random: FixedRandom(), now: 0)
        return (tunnel, LaneSecurity(lane: 0, tunnel: tunnel))
    }()
    nonisolated(unsafe) private static var clock: UInt64 = 1_000_000

    static func run(_ data: UnsafeRawBufferPointer) throws(FuzzFinding) {
        var input = FuzzInput(data)
        let (tunnel, lane) = shared
        var now = clock
        defer { clock = now &+ 1_000_000 }
        let wall: UInt64 = 1_700_000_000_000_000_000
        var sent = 0
        while !input.isAtEnd {
            let op = input.byte()
            if op & 0x80 != 0 {
                now &+= UInt64(op & 0x7F) * 10_000_000
                tunnel.tick(now: now, wallNanoseconds: wall &+ now) { _, _ in sent += 1 }
                continue
            }
            var datagram = input.take(Int(input.uint16() % 1600))
            let length = datagram.count
            datagram += [UInt8](repeating: 0, count: WireFormat.sealOverhead)
            let opened: OpenedDatagram = datagram.withUnsafeMutableBytes { raw in
                lane.open(UnsafeMutableRawBufferPointer(rebasing: raw[0..<length]), peer: 0, now: now)
            }
            switch opened {
            case .frame:
                // No session was ever made with the peer's key, so nothing can be authentic.
                throw FuzzFinding(.sealed, "a datagram of \(length) bytes opened without a session")
            case .handshake:
                datagram.withUnsafeBytes { raw in
                    tunnel.receive(
                        handshake: UnsafeRawBufferPointer(rebasing: raw[0..<length]), from: 0, source: peerEndpoint,
                        now: now, wallNanoseconds: wall &+ now) { _, _ in sent += 1 }
                }
            case .unknownSession:
                lane.reportUnknownSession(peer: 0, now: now, wallNanoseconds: wall &+ now) { _, _ in sent += 1 }
            case .refused:
                break
            }
            lane.refresh { _ in }
            guard !lane.canSeal(peer: 0) else {
                throw FuzzFinding(.sealed, "a session exists although the peer never took part in a handshake")
            }
        }
        _ = tunnel.counters(peer: 0)
        _ = lane.counters(peer: 0)
    }
}

/// Deterministic bytes for the tunnel's ephemeral keys and indices.
final class FixedRandom: TunnelRandomSource, @unchecked Sendable {
    private var state: UInt64

    init(seed: UInt64 = 0x1234_5678) { state = seed }

    func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        var random = SplitMix64(seed: state)
        state &+= 1
        for index in 0..<buffer.count { buffer[index] = UInt8(truncatingIfNeeded: random.next()) }
    }
}
