import MaelstromCore

/// Two gateways joined by an in-memory WAN with loss and delay, in virtual time.
///
/// Site A (10.1.0.0/24, endpoint 198.18.1.1:4500) and site B (10.2.0.0/24, 198.18.2.1:4500).
/// Datagrams in flight wait in a queue until their arrival time; `run(until:)` moves time on.
public final class GatewayPair {
    /// Site A's gateway.
    public private(set) var a: Gateway
    /// Site B's gateway.
    public private(set) var b: Gateway
    /// Packets delivered into A's TUN side.
    public var deliveredAtA: [[UInt8]] = []
    /// Packets delivered into B's TUN side.
    public var deliveredAtB: [[UInt8]] = []
    /// Virtual time, in nanoseconds.
    public private(set) var now: UInt64 = 1_000_000
    /// One-way delay of the WAN, in nanoseconds.
    public var delayNanoseconds: UInt64
    /// Loss applied to datagrams from A to B.
    public var lossAToB: LossProcess
    /// Loss applied to datagrams from B to A.
    public var lossBToA: LossProcess
    /// Datagrams dropped by the WAN, per direction.
    public private(set) var droppedAToB = 0
    /// Datagrams dropped by the WAN from B to A.
    public private(set) var droppedBToA = 0

    private var inFlight: [(arrival: UInt64, toB: Bool, bytes: [UInt8])] = []
    private var nextStream: UInt32 = 100

    /// The endpoint of site A's gateway.
    public static let endpointA = Endpoint("198.18.1.1:4500")!
    /// The endpoint of site B's gateway.
    public static let endpointB = Endpoint("198.18.2.1:4500")!

    /// Settings for one side: its one peer is the other site.
    public static func settings(
        peerName: String, peerEndpoint: Endpoint, peerSubnet: String, fec: FECParameters,
        adaptation: AdaptationSettings = AdaptationSettings()
    ) -> GatewaySettings {
        GatewaySettings(
            peers: [PeerSettings(name: peerName, endpoint: peerEndpoint, subnets: [IPPrefix(peerSubnet)!])],
            fec: fec, decoder: DecoderParameters(for: fec, mode: adaptation.mode),
            keepaliveIntervalNanoseconds: 1_000_000_000, peerTimeoutNanoseconds: 3_000_000_000, adaptation: adaptation)
    }

    /// Creates the pair.
    public init(
        fec: FECParameters = FECParameters(r: 8, interleaves: [1, 10, 100], flushAfterNanoseconds: 5_000_000, maxPacketSize: 1400),
        delayNanoseconds: UInt64 = 10_000_000, loss: LossModel = .none, seed: UInt64 = 1,
        adaptation: AdaptationSettings = AdaptationSettings()
    ) {
        self.delayNanoseconds = delayNanoseconds
        lossAToB = LossProcess(model: loss, seed: seed)
        lossBToA = LossProcess(model: loss, seed: seed &+ 1)
        a = Gateway(settings: Self.settings(peerName: "site-b", peerEndpoint: Self.endpointB, peerSubnet: "10.2.0.0/24", fec: fec, adaptation: adaptation), streams: [1], now: now)
        b = Gateway(settings: Self.settings(peerName: "site-a", peerEndpoint: Self.endpointA, peerSubnet: "10.1.0.0/24", fec: fec, adaptation: adaptation), streams: [2], now: now)
    }

    /// Replaces B's gateway by a fresh one, as when its daemon restarts.
    public func restartB() {
        nextStream &+= 1
        b = Gateway(settings: b.settings, streams: [StreamID(nextStream)], now: now)
    }

    /// A host at site A sends `packet` (read from A's TUN).
    public func sendFromA(_ packet: [UInt8]) { send(packet, fromA: true) }

    /// A host at site B sends `packet` (read from B's TUN).
    public func sendFromB(_ packet: [UInt8]) { send(packet, fromA: false) }

    /// Puts `datagram` on the WAN towards B as if A had sent it (a forgery from A's address), arriving now.
    public func injectIntoB(_ datagram: [UInt8]) {
        inFlight.append((now, true, datagram))
    }

    /// Moves virtual time to `time`, delivering datagrams and running ticks on the way.
    public func run(until time: UInt64) {
        while true {
            let nextArrival = inFlight.map(\.arrival).min() ?? .max
            let nextTick = min(a.nextDeadline, b.nextDeadline)
            let next = min(nextArrival, nextTick)
            guard next <= time else { break }
            now = max(now, next)
            if nextArrival <= now {
                let index = inFlight.firstIndex { $0.arrival == nextArrival }!
                let datagram = inFlight.remove(at: index)
                var output = RecordingGatewayOutput()
                datagram.bytes.withUnsafeBytes { raw in
                    if datagram.toB {
                        b.inbound(raw, from: Self.endpointA, now: now, into: &output)
                    } else {
                        a.inbound(raw, from: Self.endpointB, now: now, into: &output)
                    }
                }
                absorb(output, fromA: !datagram.toB)
            } else {
                var outputA = RecordingGatewayOutput()
                a.tick(now: now, into: &outputA)
                absorb(outputA, fromA: true)
                var outputB = RecordingGatewayOutput()
                b.tick(now: now, into: &outputB)
                absorb(outputB, fromA: false)
            }
        }
        now = max(now, time)
    }

    /// Moves virtual time on by `nanoseconds`.
    public func advance(by nanoseconds: UInt64) { run(until: now + nanoseconds) }

    private func send(_ packet: [UInt8], fromA: Bool) {
        var output = RecordingGatewayOutput()
        var bytes = packet
        bytes.withUnsafeMutableBytes { raw in
            (fromA ? a : b).outbound(raw, now: now, into: &output)
        }
        absorb(output, fromA: fromA)
    }

    private func absorb(_ output: RecordingGatewayOutput, fromA: Bool) {
        for packet in output.delivered {
            if fromA { deliveredAtA.append(packet.bytes) } else { deliveredAtB.append(packet.bytes) }
        }
        for datagram in output.sent {
            let lost = fromA ? lossAToB.nextIsLost(at: now) : lossBToA.nextIsLost(at: now)
            if lost {
                if fromA { droppedAToB += 1 } else { droppedBToA += 1 }
                continue
            }
            inFlight.append((now + delayNanoseconds, fromA, datagram.bytes))
        }
    }
}
