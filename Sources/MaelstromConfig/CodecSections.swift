import MaelstromCore

/// The `fec` section; its rules are `FECParameters.validate()`'s, so the codec and the file never disagree.
enum FECSection {
    static let keys = ["r", "c", "interleaves", "flush-after"]

    /// `maxPacketSize` is the TUN MTU, the largest packet the encoder can ever be handed.
    static func read(
        _ section: ConfigMapping, maxPacketSize: Int, sizeLocation: Location, warnings: inout [ConfigWarning]
    ) throws(ConfigError) -> FECParameters {
        var fec = FECParameters.default
        fec.maxPacketSize = maxPacketSize
        if let node = section.optional("r") { fec.r = try node.int() }
        var items: [Location] = []
        if let node = section.optional("interleaves") {
            var values: [Int] = []
            for item in try node.list() {
                values.append(try item.int())
                items.append(item.location)
            }
            fec.interleaves = values
        }
        if let node = section.optional("flush-after") { fec.flushAfterNanoseconds = try node.duration() }
        if let node = section.optional("c") {
            let c = try node.int()
            guard c == fec.interleaves.count else {
                throw node.error(
                    .fec, "c is \(c) but interleaves [\(fec.interleaves.map(String.init).joined(separator: ", "))] has \(fec.interleaves.count) layers; c must equal the number of interleaves")
            }
        }
        do {
            let messages = try fec.validate()
            warnings += messages.map { section.location(of: "interleaves").warning($0) }
        } catch {
            let interleaves = fec.interleaves
            let culprit: Int? =
                switch error.code {
                case .interleaveOutOfRange: interleaves.firstIndex { $0 < 1 || $0 > FECParameters.maxInterleave }
                case .interleavesNotIncreasing: interleaves.indices.dropFirst().first { interleaves[$0] <= interleaves[$0 - 1] }
                default: nil
                }
            let location: Location =
                switch error.code {
                case .rOutOfRange: section.location(of: "r")
                case .flushOutOfRange: section.location(of: "flush-after")
                case .packetSizeOutOfRange: sizeLocation
                default: culprit.flatMap { items.indices.contains($0) ? items[$0] : nil } ?? section.location(of: "interleaves")
                }
            throw location.error(.fec, error.message)
        }
        return fec
    }
}

/// The `decoder` section: defaults sized from the FEC parameters, overrides checked against them.
enum DecoderSection {
    static let keys = ["window", "hold"]

    static func read(_ section: ConfigMapping, fec: FECParameters, warnings: inout [ConfigWarning]) throws(ConfigError) -> DecoderParameters {
        var decoder = DecoderParameters(for: fec)
        if let node = section.optional("window") {
            decoder.windowPackets = try node.int()
            // The same ratio DecoderParameters(for:) uses.
            decoder.repairCapacity = decoder.windowPackets / 2
            do { try decoder.validate() } catch { throw node.error(.badValue, error.message) }
        }
        if let node = section.optional("hold") {
            decoder.holdNanoseconds = try node.duration()
            guard decoder.holdNanoseconds > 0 else { throw node.error(.badValue, "hold must be longer than 0") }
        }
        let deepest = fec.interleaves.max() ?? 1
        let span = (fec.r + 1) * deepest
        if decoder.windowPackets < span {
            warnings.append(
                section.location(of: "window").warning(
                    "window \(decoder.windowPackets) is shorter than the span of a deepest-layer repair ((r+1)·\(deepest) = \(span) packets): those repairs arrive after their packets have left the window"))
        }
        let longest = fec.interleaves.indices.map { fec.flushDeadline(layer: $0) }.max() ?? fec.flushAfterNanoseconds
        if decoder.holdNanoseconds < longest {
            warnings.append(
                section.location(of: "hold").warning(
                    "hold \(DurationText.format(decoder.holdNanoseconds)) is shorter than the deepest layer's flush deadline \(DurationText.format(longest)): at low packet rates its repairs arrive after the lost packets were given up"))
        }
        return decoder
    }
}
