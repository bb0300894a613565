import NIOConcurrencyHelpers
import CTun
import Foundation
import MaelstromCore
import MaelstromSecurity
import MaelstromTun

/// What one run of `bench dataplane` measured.
struct DataplaneBenchmarkResult: Codable {
    var lanes: Int
    var seconds: Double
    var packets: UInt64
    var payloadBytes: UInt64
    var gbitPerS: Double
    var packetsPerS: Double
    /// Whether frames were sealed and opened (ChaCha20-Poly1305).
    var sealed: Bool
}

/// The real lane loops over allocation-free in-memory seams: per lane, a sending loop (TCP
/// super-segments split, encoded, framed, sent into a loopback link) and a receiving loop
/// (decoded, coalesced as for a GRO write) on the lane's own thread. No kernel, no sharing
/// between lanes: what scales here is what the lanes do themselves.
struct DataplaneBenchmark {
    let lanes: Int
    let seconds: Double
    /// Packets per lane to run instead of a duration (0: run for `seconds`).
    let packetsPerLane: UInt64
    let mss: Int
    /// Seal every frame and open it at the receiver, under a session from a real handshake.
    let sealed: Bool

    typealias Sender = DataPlaneLoop<SuperSegmentSource, LoopbackSender, LoopbackWaiter, SystemClock>
    typealias Receiver = DataPlaneLoop<CoalescingSink, LoopbackReceiver, LoopbackWaiter, SystemClock>

    func run() throws -> DataplaneBenchmarkResult {
        let totals = Totals()
        let cpus = Int(ctun_available_cpus())
        var threads: [IOThread] = []
        for lane in 0..<lanes {
            let seconds = self.seconds
            let packetsPerLane = self.packetsPerLane
            let mss = self.mss
            let sealed = self.sealed
            threads.append(
                try IOThread(name: "bench-lane\(lane)") {
                    _ = ctun_pin_thread(Int32(lane % cpus))
                    guard let (sender, receiver, sink) = try? Self.makeLane(lane: lane, mss: mss, sealed: sealed) else { return }
                    let started = MonotonicClock.now()
                    let deadline = started + UInt64(seconds * 1e9)
                    var turns = 0
                    do {
                        while true {
                            try sender.turn()
                            try receiver.turn()
                            turns += 1
                            if packetsPerLane > 0 {
                                if sink.deviceCounters.packetsWritten >= packetsPerLane { break }
                            } else if turns & 63 == 0 && MonotonicClock.now() >= deadline {
                                break
                            }
                        }
                    } catch {
                        return
                    }
                    let elapsed = Double(MonotonicClock.now() - started) / 1e9
                    let packets = sink.deviceCounters.packetsWritten
                    let bytes = sink.bytes
                    totals.state.withLockedValue { $0 = ($0.packets + packets, $0.bytes + bytes, max($0.seconds, elapsed)) }
                })
        }
        for thread in threads { thread.join() }
        let (packets, bytes, elapsed) = totals.state.withLockedValue { $0 }
        return DataplaneBenchmarkResult(
            lanes: lanes, seconds: elapsed, packets: packets, payloadBytes: bytes,
            gbitPerS: elapsed > 0 ? Double(bytes) * 8 / elapsed / 1e9 : 0, packetsPerS: elapsed > 0 ? Double(packets) / elapsed : 0,
            sealed: sealed)
    }

    /// What the lanes add up to, written by each lane's thread when it ends.
    final class Totals: Sendable {
        let state = NIOLockedValueBox<(packets: UInt64, bytes: UInt64, seconds: Double)>((0, 0, 0))
    }

    /// One lane's pair of loops: A (site 10.1.0.0/24) sends to B (site 10.2.0.0/24).
    static func makeLane(lane: Int, mss: Int, sealed: Bool) throws -> (Sender, Receiver, CoalescingSink) {
        let fec = FECParameters(r: 8, interleaves: [1, 10, 100], flushAfterNanoseconds: 5_000_000, maxPacketSize: 1400)
        func settings(_ peer: String, _ subnet: String) -> GatewaySettings {
            GatewaySettings(
                peers: [PeerSettings(name: "peer", endpoint: Endpoint(peer)!, subnets: [IPPrefix(subnet)!])],
                fec: fec, decoder: DecoderParameters(for: fec), framing: sealed ? .sealed : .plaintext)
        }
        let (securityA, securityB) = sealed ? try handshake(lane: LaneID(UInt8(lane))) : (nil, nil)
        let addressA = SocketAddress(Endpoint("198.18.1.1:4500")!)!
        let addressB = SocketAddress(Endpoint("198.18.2.1:4500")!)!
        let laneID = LaneID(UInt8(lane))
        let now = MonotonicClock.now()
        let link = LoopbackLink()
        let source = SuperSegmentSource(mss: mss)
        let transmit = LoopbackSender(link: link)
        let receive = LoopbackReceiver(link: link, source: addressA)
        let sink = CoalescingSink()
        let sender = Sender(
            gateway: Gateway(settings: settings("198.18.2.1:4500", "10.2.0.0/24"), lane: laneID, streams: [StreamID(UInt32(lane + 1))], now: now),
            device: source, transport: transmit, waiter: LoopbackWaiter(sourceReady: true, receiver: nil), clock: SystemClock(),
            peerAddresses: [addressB], board: SnapshotBoard(), control: DataPlaneControl(wakeup: nil), security: securityA)
        let receiver = Receiver(
            gateway: Gateway(settings: settings("198.18.1.1:4500", "10.1.0.0/24"), lane: laneID, streams: [StreamID(UInt32(lane + 100))], now: now),
            device: sink, transport: receive, waiter: LoopbackWaiter(sourceReady: false, receiver: receive), clock: SystemClock(),
            peerAddresses: [addressA], board: SnapshotBoard(), control: DataPlaneControl(wakeup: nil), security: securityB)
        return (sender, receiver, sink)
    }

    /// Two tunnels that have completed a handshake by hand (the loopback link runs one way only):
    /// A seals with its session, B opens under it (its `next`, confirmed by A's first frame).
    static func handshake(lane: LaneID) throws -> (LaneSecurity, LaneSecurity) {
        let keyA = PrivateKey.generate()
        let keyB = PrivateKey.generate()
        let now = MonotonicClock.now()
        let wall = MonotonicClock.wallNanoseconds()
        let a = try SecureTunnel(settings: TunnelSettings(privateKey: keyA, peers: [(keyB.publicKey, nil)]), now: now)
        let b = try SecureTunnel(settings: TunnelSettings(privateKey: keyB, peers: [(keyA.publicKey, nil)]), now: now)
        let source = Endpoint("198.18.1.1:4500")!
        var initiation: [UInt8] = []
        a.tick(now: now, wallNanoseconds: wall) { _, bytes in initiation = Array(bytes) }
        var response: [UInt8] = []
        initiation.withUnsafeBytes { message in
            b.receive(handshake: message, from: 0, source: source, now: now, wallNanoseconds: wall) { _, bytes in response = Array(bytes) }
        }
        response.withUnsafeBytes { message in
            a.receive(handshake: message, from: 0, source: Endpoint("198.18.2.1:4500")!, now: now, wallNanoseconds: wall) { _, _ in }
        }
        return (LaneSecurity(lane: lane, tunnel: a), LaneSecurity(lane: lane, tunnel: b))
    }
}
