import MaelstromCore
import MaelstromSecurity

/// Two tunnels that know each other, and a network the input controls: it delivers, drops,
/// replays and mutates their handshake messages and sealed frames, forges messages with a
/// correct mac1 (so the Noise code behind the lanes' cheap check is reached, which random bytes
/// never are), lets time pass and asks for rekeys. Whatever happens, a frame that opens is one the
/// other side sealed, byte for byte, and it opens once.
///
/// Script: one operation byte, its top three bits the operation, bit 0 the direction (to B or to A):
/// 0 time passes (`low five bits × 20 ms`, both tunnels' timers run); 1 the oldest datagram in
/// flight is delivered; 2 it is delivered with up to four bytes flipped (position, mask), mac1
/// stamped again when bit 3 is set; 3 it is dropped; 4 the last delivered one is delivered again;
/// 5 a data frame is sealed and sent (if that side has a session); 6 a forged datagram (length
/// byte, then bytes) is delivered, mac1 stamped when bit 3 is set; 7 a rekey is asked for.
enum HandshakeFuzz {
    private static let keys = (a: PrivateKey(bytes: Array(repeating: 0x11, count: 32))!, b: PrivateKey(bytes: Array(repeating: 0x22, count: 32))!)
    /// A low threshold, so cookies and mac2 are exercised by scripts of a few dozen messages.
    private static let timers: TunnelTimers = {
        var timers = TunnelTimers()
        timers.underLoadThreshold = 4
        return timers
    }()
    private static let payloadBytes = 24
    private static let wallBase: UInt64 = 1_700_000_000_000_000_000

    /// One gateway: its tunnel, one lane, what it sealed and what it opened.
    private final class Side {
        let tunnel: SecureTunnel
        let lane: LaneSecurity
        let source: Endpoint
        var sealedPayloads: Set<[UInt8]> = []
        var openedPayloads: Set<[UInt8]> = []
        var lastDelivered: [UInt8]?

        init(key: PrivateKey, peer: PrivateKey, source: Endpoint, seed: UInt64) {
            tunnel = try! SecureTunnel(
                settings: TunnelSettings(privateKey: key, peers: [(peer.publicKey, nil)], timers: HandshakeFuzz.timers),
                random: FixedRandom(seed: seed), now: 0)
            lane = LaneSecurity(lane: 0, tunnel: tunnel)
            self.source = source
        }
    }

    static func run(_ data: UnsafeRawBufferPointer) throws(FuzzFinding) { _ = try outcome(data) }

    /// What a script did: frames each side opened, initiations B answered with a cookie (the
    /// tests check that the seeds really complete handshakes, so the invariant is not checked on nothing).
    struct Outcome {
        var openedByA = 0
        var openedByB = 0
        var cookiesDemandedByB: UInt64 = 0
    }

    /// Runs the script.
    static func outcome(_ data: UnsafeRawBufferPointer) throws(FuzzFinding) -> Outcome {
        var input = FuzzInput(data)
        let a = Side(key: keys.a, peer: keys.b, source: Endpoint("192.0.2.1:4500")!, seed: 1)
        let b = Side(key: keys.b, peer: keys.a, source: Endpoint("192.0.2.2:4500")!, seed: 2)
        // In flight, per direction (index 1: to B); bounded like a socket buffer.
        var inFlight: [[[UInt8]]] = [[], []]
        var now: UInt64 = 1_000_000
        var sealedCount: UInt64 = 0
        func send(toB: Bool, _ bytes: UnsafeRawBufferPointer) {
            let queue = toB ? 1 : 0
            if inFlight[queue].count < 32 { inFlight[queue].append(Array(bytes)) }
        }
        func tick() {
            for (side, toB) in [(a, true), (b, false)] where now >= side.tunnel.nextDeadline {
                side.tunnel.tick(now: now, wallNanoseconds: wallBase &+ now) { _, message in send(toB: toB, message) }
            }
        }
        func deliver(_ bytes: [UInt8], toB: Bool) throws(FuzzFinding) {
            let (receiver, sender) = toB ? (b, a) : (a, b)
            receiver.lastDelivered = bytes
            receiver.lane.refresh { _ in }
            var copy = bytes + [UInt8](repeating: 0, count: WireFormat.sealOverhead)
            var opened: [UInt8]?
            copy.withUnsafeMutableBytes { raw in
                let datagram = UnsafeMutableRawBufferPointer(rebasing: raw[0..<bytes.count])
                switch receiver.lane.open(datagram, peer: 0, now: now) {
                case .frame(let frame):
                    opened = Array(frame)
                case .handshake:
                    receiver.tunnel.receive(
                        handshake: UnsafeRawBufferPointer(datagram), from: 0, source: sender.source, now: now,
                        wallNanoseconds: wallBase &+ now) { _, reply in send(toB: !toB, reply) }
                case .unknownSession:
                    receiver.lane.reportUnknownSession(peer: 0, now: now, wallNanoseconds: wallBase &+ now) { _, message in
                        send(toB: !toB, message)
                    }
                case .refused:
                    break
                }
            }
            guard let opened else { return }
            let payload = Array(opened.suffix(payloadBytes))
            guard opened.count == WireFormat.envelopeSize + WireFormat.dataHeaderSize + payloadBytes, sender.sealedPayloads.contains(payload) else {
                throw FuzzFinding(.handshake, "a frame of \(opened.count) bytes opened that the other side never sealed")
            }
            guard receiver.openedPayloads.insert(payload).inserted else {
                throw FuzzFinding(.handshake, "a sealed frame opened twice")
            }
        }

        while !input.isAtEnd {
            let op = input.byte()
            let toB = op & 1 == 1
            let queue = toB ? 1 : 0
            let receiver = toB ? b : a
            switch op >> 5 {
            case 0:
                now &+= UInt64(op & 0x1F) &* 20_000_000
                tick()
            case 1:
                guard !inFlight[queue].isEmpty else { continue }
                try deliver(inFlight[queue].removeFirst(), toB: toB)
            case 2:
                guard !inFlight[queue].isEmpty else { continue }
                var bytes = inFlight[queue].removeFirst()
                for _ in 0...((op >> 1) & 3) where !bytes.isEmpty {
                    bytes[Int(input.uint16()) % bytes.count] ^= input.byte() | 1
                }
                if op & 8 != 0 { stamp(&bytes, for: receiver) }
                try deliver(bytes, toB: toB)
            case 3:
                if !inFlight[queue].isEmpty { inFlight[queue].removeFirst() }
            case 4:
                if let last = receiver.lastDelivered { try deliver(last, toB: toB) }
            case 5:
                let sender = toB ? a : b
                sealedCount &+= 1
                if let sealed = seal(from: sender, number: sealedCount, now: now) {
                    if inFlight[queue].count < 32 { inFlight[queue].append(sealed) }
                }
            case 6:
                var bytes = input.take(Int(input.byte()))
                if op & 8 != 0 { stamp(&bytes, for: receiver) }
                try deliver(bytes, toB: toB)
            default:
                (toB ? a : b).tunnel.rekeyWanted(peer: 0)
            }
        }
        _ = a.lane.counters(peer: 0)
        return Outcome(openedByA: a.openedPayloads.count, openedByB: b.openedPayloads.count, cookiesDemandedByB: b.tunnel.counters(peer: 0).refusedNeedsCookie)
    }

    /// The mac1 `receiver` checks, written into `bytes` when they are an initiation or a response.
    private static func stamp(_ bytes: inout [UInt8], for receiver: Side) {
        let key = receiver.tunnel.mac1Key
        bytes.withUnsafeMutableBytes { HandshakeWire.stampMAC1($0, mac1Key: key) }
    }

    /// A data frame from `sender` whose payload is unique (its number), sealed; nil without a session.
    private static func seal(from sender: Side, number: UInt64, now: UInt64) -> [UInt8]? {
        sender.lane.refresh { _ in }
        let length = WireFormat.envelopeSize + WireFormat.dataHeaderSize + payloadBytes
        var bytes = [UInt8](repeating: 0, count: length + WireFormat.sealOverhead)
        var payload = [UInt8](repeating: 0xA5, count: payloadBytes)
        for offset in 0..<8 { payload[offset] = UInt8(truncatingIfNeeded: number >> (8 * offset)) }
        let sealed = bytes.withUnsafeMutableBytes { raw -> Int in
            let base = raw.baseAddress!
            DataFrameHeader(stream: 3, sequence: UInt32(truncatingIfNeeded: number)).write(to: base + WireFormat.envelopeSize)
            payload.withUnsafeBytes { (base + WireFormat.envelopeSize + WireFormat.dataHeaderSize).copyMemory(from: $0.baseAddress!, byteCount: payloadBytes) }
            WireFormat.writeSealableEnvelope(base, type: .data, lane: 0)
            return sender.lane.seal(frame: base, length: length, peer: 0, now: now)
        }
        guard sealed > 0 else { return nil }
        sender.sealedPayloads.insert(payload)
        return Array(bytes[0..<sealed])
    }
}
