import MaelstromCore
@testable import MaelstromSecurity
import Synchronization

/// A deterministic random source for tunnels under test (SplitMix64 behind a lock).
final class SeededRandom: TunnelRandomSource {
    private let state: Mutex<UInt64>
    init(seed: UInt64) { state = Mutex(seed) }
    func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        state.withLock { state in
            for index in 0..<buffer.count {
                state &+= 0x9E37_79B9_7F4A_7C15
                var z = state
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                buffer[index] = UInt8(truncatingIfNeeded: z ^ (z >> 31))
            }
        }
    }
}

/// One gateway's security: its tunnel and some lanes, with what it has received and refused.
final class SecureSide {
    let name: String
    let privateKey: PrivateKey
    let source: Endpoint
    var tunnel: SecureTunnel
    var lanes: [LaneSecurity]
    /// Frames opened, with the lane that opened them, in arrival order.
    var opened: [(lane: Int, frame: [UInt8])] = []
    var announced: [PeerID] = []
    /// Wall clock offset: a restarted gateway's clock has moved on.
    var wallOffset: UInt64

    let ciphers: [FrameCipher]

    init(name: String, privateKey: PrivateKey, peerKey: PublicKey, psk: PresharedKey?, lanes: Int = 1, timers: TunnelTimers,
         source: Endpoint, seed: UInt64, ciphers: [FrameCipher] = FrameCipher.available, wallOffset: UInt64 = 1_700_000_000_000_000_000) throws {
        self.ciphers = ciphers
        self.name = name
        self.privateKey = privateKey
        self.source = source
        self.wallOffset = wallOffset
        let made = try SecureTunnel(
            settings: TunnelSettings(privateKey: privateKey, peers: [(peerKey, psk)], timers: timers, ciphers: ciphers),
            random: SeededRandom(seed: seed), now: 0)
        tunnel = made
        self.lanes = (0..<lanes).map { LaneSecurity(lane: LaneID(UInt8($0)), tunnel: made) }
    }

    /// Starts again with nothing: a restart.
    func restart(peerKey: PublicKey, psk: PresharedKey?, timers: TunnelTimers, seed: UInt64, now: UInt64) throws {
        tunnel = try SecureTunnel(
            settings: TunnelSettings(privateKey: privateKey, peers: [(peerKey, psk)], timers: timers, ciphers: ciphers),
            random: SeededRandom(seed: seed), now: now)
        lanes = lanes.indices.map { LaneSecurity(lane: LaneID(UInt8($0)), tunnel: tunnel) }
    }

    func refresh() {
        for lane in lanes { lane.refresh { self.announced.append($0) } }
    }

    /// A data frame with `payload`, sealed on `lane`; nil when that lane has no session yet.
    func sealFrame(_ payload: [UInt8], lane: Int = 0, now: UInt64) -> [UInt8]? {
        refresh()
        let length = WireFormat.envelopeSize + WireFormat.dataHeaderSize + payload.count
        var bytes = [UInt8](repeating: 0, count: length + WireFormat.sealOverhead)
        let sealed = bytes.withUnsafeMutableBytes { raw -> Int in
            let base = raw.baseAddress!
            DataFrameHeader(stream: 7, sequence: 1).write(to: base + WireFormat.envelopeSize)
            payload.withUnsafeBytes { (base + WireFormat.envelopeSize + WireFormat.dataHeaderSize).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            WireFormat.writeSealableEnvelope(base, type: .data, lane: LaneID(UInt8(lane)))
            return lanes[lane].seal(frame: base, length: length, peer: 0, now: now)
        }
        return sealed == 0 ? nil : Array(bytes[0..<sealed])
    }

    var counters: SealingCounters {
        var total = SealingCounters()
        for lane in lanes { total.add(lane.counters(peer: 0)) }
        return total
    }
}

/// Two gateways and the messages between them; `deliver` hands a datagram to a side as a lane would.
final class TunnelPair {
    let timers: TunnelTimers
    let psk: PresharedKey?
    let a: SecureSide
    let b: SecureSide
    /// Datagrams on their way: to which side, when they arrive, the bytes.
    var inFlight: [(toB: Bool, at: UInt64, bytes: [UInt8])] = []
    /// What the network does to a datagram as it is sent: returns the arrival delays (none: lost).
    var network: (Bool, [UInt8]) -> [UInt64] = { _, _ in [25_000_000] }
    var now: UInt64 = 0

    init(
        timers: TunnelTimers = TunnelTimers(), psk: PresharedKey? = nil, lanes: Int = 1, seed: UInt64 = 1,
        ciphers: (a: [FrameCipher], b: [FrameCipher]) = (FrameCipher.available, FrameCipher.available)
    ) throws {
        self.timers = timers
        self.psk = psk
        let keyA = PrivateKey.generate()
        let keyB = PrivateKey.generate()
        a = try SecureSide(
            name: "A", privateKey: keyA, peerKey: keyB.publicKey, psk: psk, lanes: lanes, timers: timers,
            source: Endpoint(address: .v4(0x0A00_0001), port: 4500), seed: seed, ciphers: ciphers.a)
        b = try SecureSide(
            name: "B", privateKey: keyB, peerKey: keyA.publicKey, psk: psk, lanes: lanes, timers: timers,
            source: Endpoint(address: .v4(0x0A00_0002), port: 4500), seed: seed &+ 1, ciphers: ciphers.b)
    }

    func side(_ toB: Bool) -> SecureSide { toB ? b : a }

    /// Sends `bytes` from one side to the other through `network`.
    func send(toB: Bool, _ bytes: [UInt8]) {
        for delay in network(toB, bytes) { inFlight.append((toB, now &+ delay, bytes)) }
    }

    /// What `deliver` gave: `OpenedDatagram` with an opened frame copied out, since the frame it
    /// points to lives in the datagram's buffer only during the call (AddressSanitizer caught a
    /// test reading it afterwards).
    enum Delivered {
        case frame([UInt8])
        case handshake
        case unknownSession
        case refused
    }

    /// Hands one datagram to a side's lane `lane`, as the lane loop does.
    @discardableResult
    func deliver(_ bytes: [UInt8], toB: Bool, lane: Int = 0) -> Delivered {
        let receiver = side(toB)
        let sender = side(!toB)
        receiver.refresh()
        var copy = bytes
        return copy.withUnsafeMutableBytes { raw -> Delivered in
            let result = receiver.lanes[lane].open(raw, peer: 0, now: now)
            var delivered = Delivered.refused
            switch result {
            case .frame(let frame):
                receiver.opened.append((lane, Array(frame)))
                delivered = .frame(Array(frame))
            case .handshake:
                receiver.tunnel.receive(
                    handshake: UnsafeRawBufferPointer(raw), from: 0, source: sender.source, now: now,
                    wallNanoseconds: receiver.wallOffset &+ now
                ) { _, reply in self.send(toB: !toB, Array(reply)) }
                delivered = .handshake
            case .unknownSession:
                receiver.lanes[lane].reportUnknownSession(peer: 0, now: now, wallNanoseconds: receiver.wallOffset &+ now) { _, message in
                    self.send(toB: !toB, Array(message))
                }
                delivered = .unknownSession
            case .refused: break
            }
            return delivered
        }
    }

    /// Runs both tunnels' timers and delivers what has arrived, in steps of `step` until `until`
    /// returns true or `limit` passes; returns whether `until` was met.
    @discardableResult
    func run(for limit: UInt64, step: UInt64 = 1_000_000, until: () -> Bool = { false }) -> Bool {
        let end = now &+ limit
        while now < end {
            for side in [a, b] where now >= side.tunnel.nextDeadline {
                let toB = side === a
                side.tunnel.tick(now: now, wallNanoseconds: side.wallOffset &+ now) { _, message in self.send(toB: toB, Array(message)) }
            }
            let due = inFlight.enumerated().filter { $0.element.at <= now }
            inFlight.removeAll { $0.at <= now }
            for (_, datagram) in due { deliver(datagram.bytes, toB: datagram.toB) }
            a.refresh()
            b.refresh()
            if until() { return true }
            now &+= step
        }
        return until()
    }

    /// The cipher of A's current session.
    var cipher: FrameCipher? { a.tunnel.sessions().peers[0].current?.cipher }

    /// Both sides can seal.
    var established: Bool {
        a.refresh()
        b.refresh()
        return a.lanes.allSatisfy { $0.canSeal(peer: 0) } && b.lanes.allSatisfy { $0.canSeal(peer: 0) }
    }

    /// Runs until A can seal, then lets A's first frame confirm the session on B.
    func establish(limit: UInt64 = 5_000_000_000) -> Bool {
        let initiated = run(for: limit) { a.lanes[0].canSeal(peer: 0) || b.lanes[0].canSeal(peer: 0) }
        guard initiated else { return false }
        let (first, toB) = a.lanes[0].canSeal(peer: 0) ? (a, true) : (b, false)
        if let frame = first.sealFrame([0x45, 0, 0, 20], now: now) { send(toB: toB, frame) }
        return run(for: limit) { established }
    }
}
