import CTun
import Foundation
import MaelstromCore
import MaelstromTun
import Synchronization

/// What one run of `bench dataplane` measured.
struct DataplaneBenchmarkResult: Codable {
    var lanes: Int
    var seconds: Double
    var packets: UInt64
    var payloadBytes: UInt64
    var gbitPerS: Double
    var packetsPerS: Double
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
            threads.append(
                try IOThread(name: "bench-lane\(lane)") {
                    _ = ctun_pin_thread(Int32(lane % cpus))
                    let (sender, receiver, sink) = Self.makeLane(lane: lane, mss: mss)
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
                    totals.state.withLock { $0 = ($0.packets + packets, $0.bytes + bytes, max($0.seconds, elapsed)) }
                })
        }
        for thread in threads { thread.join() }
        let (packets, bytes, elapsed) = totals.state.withLock { $0 }
        return DataplaneBenchmarkResult(
            lanes: lanes, seconds: elapsed, packets: packets, payloadBytes: bytes,
            gbitPerS: elapsed > 0 ? Double(bytes) * 8 / elapsed / 1e9 : 0, packetsPerS: elapsed > 0 ? Double(packets) / elapsed : 0)
    }

    /// What the lanes add up to, written by each lane's thread when it ends.
    final class Totals: Sendable {
        let state = Mutex<(packets: UInt64, bytes: UInt64, seconds: Double)>((0, 0, 0))
    }

    /// One lane's pair of loops: A (site 10.1.0.0/24) sends to B (site 10.2.0.0/24).
    static func makeLane(lane: Int, mss: Int) -> (Sender, Receiver, CoalescingSink) {
        let fec = FECParameters(r: 8, interleaves: [1, 10, 100], flushAfterNanoseconds: 5_000_000, maxPacketSize: 1400)
        func settings(_ peer: String, _ subnet: String) -> GatewaySettings {
            GatewaySettings(
                peers: [PeerSettings(name: "peer", endpoint: Endpoint(peer)!, subnets: [IPPrefix(subnet)!])],
                fec: fec, decoder: DecoderParameters(for: fec))
        }
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
            peerAddresses: [addressB], board: SnapshotBoard(), control: DataPlaneControl(wakeup: nil))
        let receiver = Receiver(
            gateway: Gateway(settings: settings("198.18.1.1:4500", "10.1.0.0/24"), lane: laneID, streams: [StreamID(UInt32(lane + 100))], now: now),
            device: sink, transport: receive, waiter: LoopbackWaiter(sourceReady: false, receiver: receive), clock: SystemClock(),
            peerAddresses: [addressA], board: SnapshotBoard(), control: DataPlaneControl(wakeup: nil))
        return (sender, receiver, sink)
    }
}
