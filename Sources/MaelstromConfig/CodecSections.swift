import MaelstromCore

/// The `fec` section; its rules are `FECParameters.validate()`'s, so the codec and the file never disagree.
enum FECSection {
    static let keys = [
        "r", "c", "interleaves", "flush-after", "mode", "target-residual", "min-overhead", "max-overhead", "step-down-after",
        "report-interval", "congestion-delay", "recovery-budget",
    ]

    /// How the code is chosen: `mode` (adaptive by default) and the policy's bounds.
    static func adaptation(_ section: ConfigMapping, fec: FECParameters) throws(ConfigError) -> AdaptationSettings {
        var settings = AdaptationSettings(mode: .adaptive)
        if let node = section.optional("mode") {
            let text = try node.string("fixed or adaptive")
            guard let mode = FECMode(rawValue: text) else {
                throw node.error(.badValue, "mode must be fixed or adaptive, got '\(text)'")
            }
            settings.mode = mode
        }
        if let node = section.optional("target-residual") { settings.targetResidual = try node.double(in: 1e-12...0.1) }
        if let node = section.optional("min-overhead") { settings.minOverhead = try node.double(in: 0...1) }
        if let node = section.optional("max-overhead") { settings.maxOverhead = try node.double(in: 0...4) }
        if let node = section.optional("step-down-after") { settings.stepDownAfterNanoseconds = try node.duration(in: 100_000_000...600_000_000_000) }
        if let node = section.optional("congestion-delay") { settings.congestionDelayNanoseconds = try node.duration(in: 0...1_000_000_000) }
        if let node = section.optional("report-interval") { settings.reportIntervalNanoseconds = try node.duration(in: 50_000_000...10_000_000_000) }
        if let node = section.optional("recovery-budget") {
            if (try? node.string("rtt")) == "rtt" {
                settings.recoveryBudget = .roundTrip
            } else {
                settings.recoveryBudget = .fixed(nanoseconds: try node.duration(in: 1_000_000...10_000_000_000))
            }
        }
        guard settings.minOverhead <= settings.maxOverhead else {
            throw section.location(of: "min-overhead").error(
                .badValue, "min-overhead \(settings.minOverhead) is above max-overhead \(settings.maxOverhead)")
        }
        return settings
    }

    /// In adaptive mode, the ladder under `fec` for a peer decoder of `decoderWindow` packets must
    /// hold more than the configured code.
    static func checkLadder(_ section: ConfigMapping, settings: AdaptationSettings, fec: FECParameters, decoderWindow: Int) throws(ConfigError) {
        guard settings.mode == .adaptive else { return }
        let ladder = CodeLadder.codes(
            bound: fec, decoderWindow: decoderWindow, minimumOverhead: settings.minOverhead, maximumOverhead: settings.maxOverhead)
        guard ladder.count > 1 else {
            throw section.location(of: "max-overhead").error(
                .badValue,
                "no code within min-overhead \(settings.minOverhead) and max-overhead \(settings.maxOverhead) fits under r=\(fec.r) interleaves [\(fec.interleaves.map(String.init).joined(separator: ", "))]: widen the range or use mode: fixed")
        }
    }

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
        // Its range is FECParameters.validate()'s, checked below with the other codec rules.
        if let node = section.optional("flush-after") { fec.flushAfterNanoseconds = try node.duration(in: 0...UInt64.max) }
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
                case .windowOutOfRange: section.location(of: "interleaves")
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

    /// `fits` says whether a decoder fits the memory limit: in adaptive mode the default window
    /// (`DecoderParameters.adaptiveWindowPackets`) is halved until it does, down to the window the
    /// configured code needs, so large packets or many peers shrink the ladder instead of failing.
    static func read(
        _ section: ConfigMapping, fec: FECParameters, mode: FECMode, fits: (DecoderParameters) -> Bool = { _ in true },
        warnings: inout [ConfigWarning]
    ) throws(ConfigError) -> DecoderParameters {
        var decoder = DecoderParameters(for: fec, mode: mode)
        if let node = section.optional("window") {
            decoder.windowPackets = try node.int()
            // The same ratio DecoderParameters(for:) uses.
            decoder.repairCapacity = decoder.windowPackets / 2
        } else {
            let least = DecoderParameters(for: fec).windowPackets
            while decoder.windowPackets > least && !fits(decoder) {
                decoder.windowPackets /= 2
                decoder.repairCapacity = decoder.windowPackets / 2
            }
        }
        // Derived values are checked like written ones: `check` must never print a config that
        // `run` cannot allocate or that `check` would refuse when read back.
        do { try decoder.validate() } catch { throw section.location(of: "window").error(.badValue, error.message) }
        if let node = section.optional("hold") {
            decoder.holdNanoseconds = try node.duration(in: Ranges.hold)
        } else if !Ranges.hold.contains(decoder.holdNanoseconds) {
            decoder.holdNanoseconds = min(max(decoder.holdNanoseconds, Ranges.hold.lowerBound), Ranges.hold.upperBound)
        }
        let deepest = fec.interleaves.max() ?? 1
        let span = (fec.r + 1) * deepest
        if decoder.windowPackets < span {
            warnings.append(
                section.location(of: "window").warning(
                    "window \(decoder.windowPackets) is shorter than the span of a deepest-layer repair ((r+1)·\(deepest) = \(span) packets): those repairs arrive after their packets have left the window"))
        }
        let longest = fec.longestFlushDeadline
        if decoder.holdNanoseconds < longest {
            warnings.append(
                section.location(of: "hold").warning(
                    "hold \(DurationText.format(decoder.holdNanoseconds)) is shorter than the deepest layer's flush deadline \(DurationText.format(longest)): at low packet rates its repairs arrive after the lost packets were given up"))
        }
        return decoder
    }
}

/// The ranges every duration and size of the file must fall in: none may wrap a deadline.
enum Ranges {
    static let hold: ClosedRange<UInt64> = 1...120_000_000_000
    static let keepaliveInterval: ClosedRange<UInt64> = 10_000_000...600_000_000_000
    static let peerTimeout: ClosedRange<UInt64> = 20_000_000...3_600_000_000_000
    static let memory: ClosedRange<UInt64> = (16 << 20)...(1 << 40)
}

/// The `limits` section: how much memory the codec state of all peers may take, checked before
/// anything is allocated.
enum LimitsSection {
    static let keys = ["memory"]
    static let defaultMemory: UInt64 = 1 << 30

    /// Bytes of codec state for one peer: an encoder per local lane (two under adaptive FEC: the
    /// one replaced by a code switch drains its bins; no code of the ladder has more bins than
    /// `fec`), and a decoder per lane of the peer's (each of its lanes is steered to exactly one of ours).
    static func bytesPerPeer(lanes: Int, peerLanes: Int, fec: FECParameters, encodersPerLane: Int = 1, decoder: DecoderParameters) -> Int {
        (fec.encoderMemoryBytes * encodersPerLane).multipliedReportingOverflow(by: lanes).partialValue
            &+ decoder.memoryBytes.multipliedReportingOverflow(by: peerLanes).partialValue
    }

    /// `limits.memory`, or the default.
    static func limit(_ section: ConfigMapping) throws(ConfigError) -> UInt64 {
        try section.optional("memory")?.byteSize(in: Ranges.memory) ?? defaultMemory
    }

    /// Bytes of codec state for every peer.
    static func total(peerLanes: [Int], lanes: Int, fec: FECParameters, encodersPerLane: Int, decoder: DecoderParameters) -> UInt64 {
        var total: UInt64 = 0
        for peer in peerLanes {
            total = total.saturatingAdd(UInt64(bytesPerPeer(lanes: lanes, peerLanes: peer, fec: fec, encodersPerLane: encodersPerLane, decoder: decoder)))
        }
        return total
    }

    static func read(
        _ section: ConfigMapping, peerLanes: [Int], lanes: Int, fec: FECParameters, encodersPerLane: Int = 1,
        decoder: DecoderParameters, blame: Location
    ) throws(ConfigError) -> UInt64 {
        let limit = try limit(section)
        let total = total(peerLanes: peerLanes, lanes: lanes, fec: fec, encodersPerLane: encodersPerLane, decoder: decoder)
        guard total <= limit else {
            let peers = peerLanes.count
            throw blame.error(
                .badValue,
                "the codec needs up to \(ByteSizeText.approximate(Int(clamping: total))) for \(peers) peer\(peers == 1 ? "" : "s") and \(lanes) lane\(lanes == 1 ? "" : "s") (\(encodersPerLane == 2 ? "two encoders" : "an encoder") of \(ByteSizeText.approximate(fec.encoderMemoryBytes)) per lane and peer, a decoder of \(ByteSizeText.approximate(decoder.memoryBytes)) per lane of each peer: \(peerLanes.map(String.init).joined(separator: ", "))), more than limits.memory \(ByteSizeText.format(limit)); lower decoder.window, the deepest fec interleave, tun.mtu or the peers' lanes, or raise limits.memory")
        }
        return limit
    }
}
