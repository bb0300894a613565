import MaelstromCore

/// A gateway fed datagrams from its peer's address and from strangers, packets from its TUN side,
/// and the passing of time: nothing traps, every packet it writes to the TUN side is a well-formed
/// IP packet, every frame it sends parses and fits the room it was given.
enum InboundFuzz {
    private static let peerEndpoint = Endpoint("192.0.2.2:4500")!
    private static let stranger = Endpoint("203.0.113.9:4500")!

    static func run(_ data: UnsafeRawBufferPointer) throws(FuzzFinding) {
        var input = FuzzInput(data)
        // A small MTU keeps the decoders' windows small, so a run is cheap under AddressSanitizer.
        let fec = FECParameters(r: 4, interleaves: [1, 5], flushAfterNanoseconds: 1_000_000, maxPacketSize: 700)
        let settings = GatewaySettings(
            peers: [PeerSettings(name: "b", endpoint: peerEndpoint, subnets: [IPPrefix("10.2.0.0/24")!, IPPrefix("fd02::/64")!], lanes: 2)],
            fec: fec, decoder: DecoderParameters(for: fec), clampMSS: input.byte() & 1 == 0)
        let gateway = Gateway(settings: settings, streams: [StreamID(7)], now: 0)
        var output = CheckingGatewayOutput()
        var now: UInt64 = 1
        while !input.isAtEnd {
            let op = input.byte()
            switch op & 7 {
            case 0...3:
                var datagram = input.take(Int(input.uint16() % 1600))
                if op & 0x10 != 0 { fixChecksum(&datagram) }
                let source = op & 0x20 == 0 ? peerEndpoint : stranger
                datagram.withUnsafeBytes { gateway.inbound($0, from: source, now: now, into: &output) }
            case 4, 5:
                var packet = input.take(Int(input.uint16() % 1500))
                packet.withUnsafeMutableBytes { gateway.outbound($0, now: now, into: &output) }
            default:
                now &+= UInt64(input.uint16()) * 100_000
                gateway.tick(now: now, into: &output)
            }
            gateway.flush(into: &output)
            if let finding = output.finding { throw finding }
        }
        _ = gateway.takeEvents()
        _ = gateway.counters(peer: 0)
    }

    /// Gives a datagram long enough for its type's headers a correct plaintext header checksum;
    /// false (and unchanged) when it is too short.
    @discardableResult
    static func fixChecksum(_ datagram: inout [UInt8]) -> Bool {
        guard datagram.count >= WireFormat.envelopeSize + 2 else { return false }
        let size = WireFormat.envelopeSize + WireFormat.clearHeaderSize(typeByte: datagram[1])
            + (datagram[1] == FrameType.keepalive.rawValue ? WireFormat.keepaliveSize : 0)
        guard datagram.count >= size else { return false }
        datagram.withUnsafeMutableBytes { raw in
            let checksum = WireFormat.headerChecksum(raw.baseAddress!, count: size)
            raw.baseAddress!.storeBytes(of: checksum.bigEndian, toByteOffset: 8, as: UInt16.self)
        }
        return true
    }
}

/// Checks what a gateway sends and delivers; keeps nothing.
struct CheckingGatewayOutput: GatewayOutput {
    var finding: FuzzFinding?

    mutating func send(frame: UnsafeRawBufferPointer, toPeer peer: PeerID) {
        check(frame, peer: peer)
    }

    mutating func send(toPeer peer: PeerID, capacity: Int, write: (UnsafeMutableRawPointer) -> Int) {
        var room = [UInt8](repeating: 0, count: capacity + WireFormat.sealOverhead)
        let length = room.withUnsafeMutableBytes { write($0.baseAddress!) }
        guard length >= 0, length <= capacity else {
            finding = finding ?? FuzzFinding(.inbound, "a frame of \(length) bytes was written into \(capacity)")
            return
        }
        room.withUnsafeBytes { check(UnsafeRawBufferPointer(rebasing: $0[0..<length]), peer: peer) }
    }

    mutating func deliver(_ packet: UnsafeRawBufferPointer, fromPeer peer: PeerID) {
        guard IPPacket.isWellFormed(packet) else {
            finding = finding ?? FuzzFinding(.inbound, "a packet of \(packet.count) bytes that is not well-formed IP was delivered")
            return
        }
    }

    private mutating func check(_ frame: UnsafeRawBufferPointer, peer: PeerID) {
        guard peer == 0 else {
            finding = finding ?? FuzzFinding(.inbound, "a frame went to \(peer), which is not configured")
            return
        }
        do {
            _ = try Frame.parse(frame)
        } catch {
            finding = finding ?? FuzzFinding(.inbound, "the gateway sent a frame that does not parse: \(error)")
        }
    }
}
