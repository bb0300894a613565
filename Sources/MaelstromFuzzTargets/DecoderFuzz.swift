import MaelstromCore

/// A decoder fed a script of frames: every packet it delivers was sent, byte for byte, none twice;
/// its repair store stays within its capacity; its counters add up.
///
/// Two streams (a gateway and its restart) are encoded up front. The script's first bytes pick the
/// code; each further byte is an operation: frames of either stream in order or at any index,
/// a duplicate, a keepalive, a frame cut short or with a flipped header bit, garbage, or time passing.
enum DecoderFuzz {
    private static let streams: [StreamID] = [0x0A0A_0A01, 0x0B0B_0B03]

    static func run(_ data: UnsafeRawBufferPointer) throws(FuzzFinding) {
        var input = FuzzInput(data)
        let r = 2 + Int(input.byte() % 5)
        let layers = 1 + Int(input.byte() % 3)
        let depths = [1, r + 1 + Int(input.byte() % 4), (r + 1) * (r + 1)]
        let count = 1 + Int(input.byte() % 120)
        let parameters = FECParameters(
            r: r, interleaves: Array(depths.prefix(layers)), flushAfterNanoseconds: 1_000_000, maxPacketSize: 512)
        var sent: [[[UInt8]]] = []
        var frames: [[[UInt8]]] = []
        for (index, stream) in streams.enumerated() {
            let encoder = LayeredEncoder(parameters: parameters, stream: stream)
            var sink = CopyingFrameSink()
            var packets: [[UInt8]] = []
            for number in 0..<count {
                let packet = packetBytes(stream: index, number: number)
                packets.append(packet)
                _ = packet.withUnsafeBytes { encoder.encode($0, now: 0, into: &sink) }
            }
            encoder.flush(into: &sink)
            sent.append(packets)
            frames.append(sink.frames)
        }

        let decoder = LayeredDecoder(parameters: DecoderParameters(for: parameters))
        var sink = CheckingPacketSink(sent: sent)
        var now: UInt64 = 0
        var cursors = [0, 0]
        while !input.isAtEnd {
            let op = input.byte()
            let stream = Int(op >> 7)
            var datagram: [UInt8]
            switch op & 0x0F {
            case 0...5:
                guard cursors[stream] < frames[stream].count else { continue }
                datagram = frames[stream][cursors[stream]]
                cursors[stream] += 1
            case 6, 7:
                guard !frames[stream].isEmpty else { continue }
                datagram = frames[stream][Int(input.uint16()) % frames[stream].count]
            case 8:
                let next = UInt32(truncatingIfNeeded: cursors[stream])
                datagram = keepalive(stream: streams[stream], nextSequence: next, timestamp: now &+ 1)
            case 9:
                guard !frames[stream].isEmpty else { continue }
                datagram = frames[stream][Int(input.uint16()) % frames[stream].count]
                // Cut inside the headers: a shorter payload is the UDP checksum's to catch, not the decoder's.
                datagram = Array(datagram.prefix(Int(input.byte()) % (WireFormat.dataFrameHeadroom + 1)))
            case 10:
                guard !frames[stream].isEmpty else { continue }
                datagram = frames[stream][Int(input.uint16()) % frames[stream].count]
                // A header bit only: the payload is the UDP checksum's to guard, not the decoder's.
                let headerBytes = WireFormat.envelopeSize + (FrameType(rawValue: datagram[1])?.bodyHeaderSize ?? 0)
                let bit = Int(input.uint16()) % (headerBytes * 8)
                datagram[bit / 8] ^= UInt8(1 << (bit % 8))
            case 11:
                datagram = input.take(Int(input.byte()) % 64)
            case 12:
                now &+= UInt64(input.byte()) * 1_000_000
                decoder.tick(now: now)
                try sink.check(decoder)
                continue
            default:
                now &+= UInt64(input.uint16()) * 1_000_000
                decoder.tick(now: now)
                try sink.check(decoder)
                continue
            }
            datagram.withUnsafeBytes { decoder.receive(datagram: $0, now: now, into: &sink) }
            try sink.check(decoder)
        }
        decoder.finish()
        try sink.check(decoder)
        let delivered = decoder.counters.received + decoder.counters.rebuilt
        guard delivered == sink.deliveries else {
            throw FuzzFinding(.decoder, "counters say \(delivered) delivered, the sink saw \(sink.deliveries)")
        }
    }

    /// Packet `number` of stream `index`: its identity in the first three bytes, then bytes derived from it.
    static func packetBytes(stream index: Int, number: Int) -> [UInt8] {
        var random = SplitMix64(seed: UInt64(index << 16 | number) &+ 0x5EED)
        let length = 3 + Int(random.next() % 300)
        var bytes = [UInt8(index), UInt8(number >> 8), UInt8(number & 0xFF)]
        while bytes.count < length { bytes.append(UInt8(truncatingIfNeeded: random.next())) }
        return bytes
    }

    static func keepalive(stream: StreamID, nextSequence: UInt32, timestamp: UInt64) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: WireFormat.keepaliveSize)
        header.withUnsafeMutableBytes {
            KeepaliveFrame(stream: stream, nextSequence: nextSequence, decodingStream: 0, timestamp: timestamp, echoedTimestamp: 0)
                .write(to: $0.baseAddress!)
        }
        return header.withUnsafeBytes { header in
            WireFormat.plaintextFrame(type: .keepalive, header: header, payload: UnsafeRawBufferPointer(start: nil, count: 0))
        }
    }
}

/// Keeps every frame as the plaintext datagram a peer would receive.
struct CopyingFrameSink: FrameSink {
    var frames: [[UInt8]] = []

    mutating func emit(header: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, kind: FrameKind) {
        frames.append(WireFormat.plaintextFrame(type: kind == .data ? .data : .repair, header: header, payload: payload))
    }
}

/// Checks each delivered packet against what was sent; remembers which were delivered.
struct CheckingPacketSink: PacketSink {
    let sent: [[[UInt8]]]
    var seen: Set<Int> = []
    var deliveries: UInt64 = 0
    var finding: FuzzFinding?

    init(sent: [[[UInt8]]]) { self.sent = sent }

    mutating func deliver(_ packet: UnsafeRawBufferPointer, sequence: UInt64, recovery: Recovery?) {
        deliveries += 1
        guard finding == nil else { return }
        guard packet.count >= 3, Int(packet[0]) < sent.count else {
            finding = FuzzFinding(.decoder, "delivered \(packet.count) bytes that no packet sent starts with")
            return
        }
        let stream = Int(packet[0])
        let number = Int(packet[1]) << 8 | Int(packet[2])
        guard number < sent[stream].count, sent[stream][number].elementsEqual(packet) else {
            finding = FuzzFinding(.decoder, "delivered bytes that differ from packet \(number) of stream \(stream)")
            return
        }
        guard seen.insert(stream << 16 | number).inserted else {
            finding = FuzzFinding(.decoder, "delivered packet \(number) of stream \(stream) twice (sequence \(sequence))")
            return
        }
    }

    func check(_ decoder: LayeredDecoder) throws(FuzzFinding) {
        if let finding { throw finding }
        guard decoder.pendingRepairs <= decoder.parameters.repairCapacity else {
            throw FuzzFinding(.decoder, "\(decoder.pendingRepairs) repairs held, capacity \(decoder.parameters.repairCapacity)")
        }
    }
}
