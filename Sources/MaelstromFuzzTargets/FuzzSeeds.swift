import MaelstromCore
import MaelstromSecurity

/// Seed inputs for each target: valid frames, scripts, packets and configs for a fuzzer to start
/// from (committed under Tests/FuzzRegressionTests/Corpus by `maelstrom-fuzz --write-seeds`).
public enum FuzzSeeds {
    /// The seeds of `target`, by file name.
    public static func seeds(for target: FuzzTarget) -> [(name: String, bytes: [UInt8])] {
        switch target {
        case .frame: frameSeeds()
        case .decoder: decoderSeeds()
        case .inbound: inboundSeeds()
        case .packet: packetSeeds()
        case .config: configSeeds()
        case .sealed: sealedSeeds()
        case .handshake: handshakeSeeds()
        }
    }

    private static func encodedFrames(count: Int, stream: StreamID = 9) -> [[UInt8]] {
        let parameters = FECParameters(r: 4, interleaves: [1, 5], flushAfterNanoseconds: 1_000_000, maxPacketSize: 1400)
        let encoder = LayeredEncoder(parameters: parameters, stream: stream)
        var sink = CopyingFrameSink()
        for number in 0..<count {
            let packet = tcpPacket(source: 0x0A01_0002, destination: 0x0A02_0002, sequence: UInt32(number * 100), payload: 40 + number % 7, syn: false)
            _ = packet.withUnsafeBytes { encoder.encode($0, now: 0, into: &sink) }
        }
        encoder.flush(into: &sink)
        return sink.frames
    }

    private static func frameSeeds() -> [(String, [UInt8])] {
        let frames = encodedFrames(count: 8)
        let data = frames.first { $0[1] == FrameType.data.rawValue }!
        let repair = frames.first { $0[1] == FrameType.repair.rawValue }!
        return [("data", data), ("repair", repair), ("keepalive", DecoderFuzz.keepalive(stream: 9, nextSequence: 8, timestamp: 5)),
                ("short", Array(data.prefix(20)))]
    }

    private static func decoderSeeds() -> [(String, [UInt8])] {
        // r, layers, depth, count, then operations: in order, a loss (skip by index), keepalives, time.
        let inOrder: [UInt8] = [2, 1, 0, 20] + Array(repeating: 0, count: 40) + [8, 12, 200]
        let lossy: [UInt8] = [2, 2, 1, 40] + (0..<80).map { $0 % 5 == 0 ? 6 : 1 } + [8, 13, 0x0B, 0xB8]
        let restart: [UInt8] = [3, 2, 0, 30] + Array(repeating: 0, count: 20) + [0x88] + Array(repeating: 0x80, count: 20) + [0x08, 13, 0x10, 0]
        let damaged: [UInt8] = [1, 1, 0, 10] + [9, 0, 3, 20, 10, 0, 2, 0, 17, 11, 5, 1, 2, 3, 4, 5, 0, 0, 0]
        return [("in-order", inOrder), ("lossy", lossy), ("restart", restart), ("damaged", damaged)]
    }

    private static func inboundSeeds() -> [(String, [UInt8])] {
        var script: [UInt8] = [0]
        for frame in encodedFrames(count: 6).prefix(6) {
            script += [0, UInt8(frame.count >> 8), UInt8(frame.count & 0xFF)] + frame
        }
        let syn = tcpPacket(source: 0x0A01_0002, destination: 0x0A02_0002, sequence: 1, payload: 0, syn: true)
        var outbound: [UInt8] = [0, 4, UInt8(syn.count >> 8), UInt8(syn.count & 0xFF)] + syn
        outbound += [6, 0x27, 0x10]
        let stranger: [UInt8] = [0, 0x20, 0, 4, 1, 2, 3, 4]
        return [("frames", script), ("outbound-syn", outbound), ("stranger", stranger)]
    }

    private static func packetSeeds() -> [(String, [UInt8])] {
        let syn = tcpPacket(source: 0x0A01_0002, destination: 0x0A02_0002, sequence: 1, payload: 0, syn: true)
        let big = tcpPacket(source: 0x0A01_0002, destination: 0x0A02_0002, sequence: 1000, payload: 3000, syn: false)
        // A TSO super-segment: flags none, GSO TCPv4, header 40, gso size 1000, checksum at 20 + 16.
        let vnet: [UInt8] = [0, 1, 40, 0, 0xE8, 0x03, 20, 0, 16, 0]
        return [("syn", [0x05, 0x00] + [UInt8](repeating: 0, count: 10) + syn),
                ("super-segment", [0x05, 0x00] + vnet + big),
                ("plain", [0x02, 0x00] + [UInt8](repeating: 0, count: 10) + big.prefix(100))]
    }

    private static func configSeeds() -> [(String, [UInt8])] {
        let minimal = """
            tun:
              name: mael0
              mtu: 1400
              address: 172.31.255.1/30
            listen: 0.0.0.0:4500
            wan-mtu: 1500
            peers:
              - name: site-b
                endpoint: 192.0.2.6:4500
                subnets: [10.2.0.0/24, fd02::/64]
            security: none

            """
        let full = minimal + """
            fec:
              r: 8
              interleaves: [1, 10, 100]
            lanes: 2
            keepalive-interval: 1s
            peer-timeout: 3s
            user: nobody

            """
        let keyed = minimal.replacing("security: none\n", with: "private-key-file: gw.key\n")
            .replacing("        subnets: [10.2.0.0/24, fd02::/64]\n", with: "        subnets: [10.2.0.0/24]\n        public-key: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")
        let aliases = "a: &a [1, 2]\nb: [*a, *a]\ntun: *a\n"
        return [("minimal", Array(minimal.utf8)), ("full", Array(full.utf8)), ("keyed", Array(keyed.utf8)), ("aliases", Array(aliases.utf8))]
    }

    private static func handshakeSeeds() -> [(String, [UInt8])] {
        // Operations (HandshakeFuzz): 0x01 time passes 20 ms, 0x21/0x20 deliver to B/A, 0xA1/0xA0
        // seal a frame to B/A, 0x81 replay to B, 0xE1 rekey, 0x4B/0x4A deliver with two bytes
        // flipped and mac1 stamped again, 0x61 drop, 0xC9 forge with mac1 stamped.
        let exchange: [UInt8] = [0x01, 0x21, 0x20, 0x21, 0x20, 0x01, 0x21, 0x20, 0x21, 0x20]
        let traffic: [UInt8] = [0xA1, 0x21, 0xA0, 0x20, 0xA1, 0x21, 0xA0, 0x20]
        let established = exchange + traffic
        let mutated: [UInt8] = Array(exchange[0..<2]) + [0x4B, 0x00, 0x30, 0x01, 0x00, 0x90, 0x80] + exchange + [0x4A, 0x00, 0x20, 0x04, 0x00, 0x50, 0x10] + traffic
        let replayed = established + [0x81, 0x81, 0xE1, 0x1F, 0x21, 0x20, 0x21, 0x20, 0x61, 0x1F, 0x21, 0x20] + traffic
        var initiation = [UInt8](repeating: 0x5A, count: HandshakeWire.initiationSize)
        initiation[0] = WireFormat.version
        initiation[1] = HandshakeWire.initiationType
        initiation[2] = 0
        initiation[3] = 0
        var flood: [UInt8] = []
        for _ in 0..<8 { flood += [0xC9, UInt8(initiation.count)] + initiation }
        return [("established", established), ("mutated", mutated), ("replayed-rekeyed", replayed),
                // B is under load after the forgeries: A's initiation gets a cookie reply, and
                // its retry, seconds later, carries mac2.
                ("forged-initiations", flood + exchange + Array([[UInt8]](repeating: [0x1F, 0x21, 0x20, 0x21, 0x20], count: 12).joined()) + traffic)]
    }

    private static func sealedSeeds() -> [(String, [UInt8])] {
        func datagram(_ bytes: [UInt8]) -> [UInt8] { [0, UInt8(bytes.count >> 8), UInt8(bytes.count & 0xFF)] + bytes }
        var sealed = [UInt8](repeating: 0, count: 80)
        sealed[0] = WireFormat.version
        sealed[1] = FrameType.data.rawValue
        sealed[3] = WireFormat.sealedFlag
        var initiation = [UInt8](repeating: 0x41, count: 157)
        initiation[0] = WireFormat.version
        initiation[1] = 4
        var response = [UInt8](repeating: 0x42, count: 97)
        response[0] = WireFormat.version
        response[1] = 5
        return [("sealed-data", datagram(sealed)), ("initiation", datagram(initiation) + [0x85]), ("response", datagram(response)),
                ("plaintext", datagram(encodedFrames(count: 1)[0]))]
    }

    /// An IPv4 TCP packet with correct checksums; a SYN carries an MSS option of 1460.
    static func tcpPacket(source: UInt32, destination: UInt32, sequence: UInt32, payload: Int, syn: Bool) -> [UInt8] {
        let tcpHeader = syn ? 24 : 20
        let total = 20 + tcpHeader + payload
        var packet = [UInt8](repeating: 0, count: total)
        packet[0] = 0x45
        packet[2] = UInt8(total >> 8); packet[3] = UInt8(total & 0xFF)
        packet[6] = 0x40  // DF
        packet[8] = 64; packet[9] = 6
        for (offset, value) in [(12, source), (16, destination)] {
            for index in 0..<4 { packet[offset + index] = UInt8(truncatingIfNeeded: value >> (24 - 8 * index)) }
        }
        packet[20] = 0x9C; packet[21] = 0x40; packet[22] = 0x14; packet[23] = 0x51
        for index in 0..<4 { packet[24 + index] = UInt8(truncatingIfNeeded: sequence >> (24 - 8 * index)) }
        packet[32] = UInt8(tcpHeader / 4) << 4
        packet[33] = syn ? 0x02 : 0x10
        packet[34] = 0xFF; packet[35] = 0xFF
        if syn { packet[40] = 2; packet[41] = 4; packet[42] = 0x05; packet[43] = 0xB4 }
        for index in 0..<payload { packet[20 + tcpHeader + index] = UInt8(truncatingIfNeeded: index &* 31 &+ 7) }
        packet.withUnsafeMutableBytes { raw in
            let base = raw.baseAddress!
            let ipSum = InternetChecksum.checksum(InternetChecksum.sum(base, count: 20))
            base.storeBytes(of: ipSum.bigEndian, toByteOffset: 10, as: UInt16.self)
            let length = total - 20
            let pseudo = InternetChecksum.pseudoHeaderSum(ip: base, proto: 6, length: length)
            let tcpSum = InternetChecksum.checksum(InternetChecksum.sum(base + 20, count: length, initial: pseudo))
            base.storeBytes(of: tcpSum.bigEndian, toByteOffset: 36, as: UInt16.self)
        }
        return packet
    }
}
