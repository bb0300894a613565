import CAllocationCounter
import MaelstromCore
@testable import MaelstromSecurity
import Testing

private let payload: [UInt8] = [0x45, 0, 0, 28] + Array(repeating: 0xAB, count: 24)

@Suite("Tunnel handshakes and sealed frames")
struct TunnelTests {
    @Test("two gateways handshake; frames sealed by each open at the other; the responder seals only once the initiator has used the session")
    func handshakeAndFrames() throws {
        let pair = try TunnelPair(psk: PresharedKey.generate())
        #expect(pair.a.sealFrame(payload, now: 0) == nil, "nothing is sealed before a handshake")
        #expect(pair.run(for: 1_000_000_000) { pair.a.lanes[0].canSeal(peer: 0) || pair.b.lanes[0].canSeal(peer: 0) })
        // Both initiate at start; whichever completed first seals; the other waits for proof.
        #expect(pair.establish())
        let fromA = try #require(pair.a.sealFrame(payload, now: pair.now))
        let fromB = try #require(pair.b.sealFrame(payload, now: pair.now))
        #expect(fromA.count == WireFormat.envelopeSize + WireFormat.dataHeaderSize + payload.count + WireFormat.sealOverhead)
        #expect(fromA[3] == WireFormat.sealedFlag)
        #expect(!fromA.starts(with: payload) && fromA.firstRange(of: payload[4...]) == nil, "the payload is encrypted")
        guard case .frame(let openedAtB) = pair.deliver(fromA, toB: true) else { Issue.record("A's frame did not open at B"); return }
        #expect(Array(openedAtB.suffix(payload.count)) == payload)
        guard case .frame = pair.deliver(fromB, toB: false) else { Issue.record("B's frame did not open at A"); return }
        #expect(pair.a.announced == [0] && pair.b.announced == [0], "each lane announces once when it can first seal")
        let countersA = pair.a.tunnel.counters(peer: 0)
        let countersB = pair.b.tunnel.counters(peer: 0)
        #expect(countersA.initiationsSent >= 1 && countersB.responsesSent + countersA.responsesSent >= 1)
        #expect(countersA.refused == 0 && countersB.refused == 0)
    }

    @Test("handshakes complete under 30 % loss, duplication and reordering of every message", arguments: [UInt64(1), 2, 3, 4, 5, 6])
    func hostileNetwork(seed: UInt64) throws {
        let pair = try TunnelPair(seed: seed)
        var random = seed &* 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return random >> 33
        }
        pair.network = { _, _ in
            if next() % 100 < 30 { return [] }
            var delays = [UInt64(5_000_000 + next() % 200_000_000)]
            if next() % 100 < 25 { delays.append(UInt64(5_000_000 + next() % 400_000_000)) }
            return delays
        }
        #expect(pair.establish(limit: 20_000_000_000), "seed \(seed)")
        // And the session works both ways on this network too (retrying what is lost).
        var received = false
        for _ in 0..<20 where !received {
            if let frame = pair.a.sealFrame(payload, now: pair.now) { pair.send(toB: true, frame) }
            received = pair.run(for: 500_000_000) { !pair.b.opened.isEmpty }
        }
        #expect(received)
        #expect(pair.b.counters.refusedAuthentication == 0 && pair.a.counters.refusedAuthentication == 0)
    }

    @Test("a replayed initiation is refused by its timestamp; a replayed frame by the window; neither changes any session")
    func replays() throws {
        let pair = try TunnelPair()
        var captured: [[UInt8]] = []
        pair.network = { toB, bytes in
            if toB { captured.append(bytes) }
            return [25_000_000]
        }
        #expect(pair.establish())
        let initiation = try #require(captured.first { $0[1] == HandshakeWire.initiationType })
        let before = pair.b.tunnel.sessions().generation
        pair.now += 1_000_000_000
        pair.deliver(initiation, toB: true)
        #expect(pair.b.tunnel.counters(peer: 0).refusedReplay == 1)
        #expect(pair.b.tunnel.sessions().generation == before)
        let frame = try #require(pair.a.sealFrame(payload, now: pair.now))
        let openedBefore = pair.b.opened.count
        guard case .frame = pair.deliver(frame, toB: true) else { Issue.record("first copy refused"); return }
        for _ in 0..<3 { pair.deliver(frame, toB: true) }
        #expect(pair.b.counters.refusedReplay == 3)
        #expect(pair.b.opened.count == openedBefore + 1, "the first copy, nothing else")
    }

    @Test("the cipher is agreed: AES-256-GCM when both offer it (hardware AES), ChaCha20-Poly1305 when either offers only that")
    func cipherNegotiation() throws {
        let both = try TunnelPair()
        #expect(both.establish())
        #expect(both.cipher == FrameCipher.available.first)
        for ciphers in [([FrameCipher.chacha20Poly1305], FrameCipher.available), (FrameCipher.available, [FrameCipher.chacha20Poly1305])] {
            let pair = try TunnelPair(ciphers: ciphers)
            #expect(pair.establish())
            #expect(pair.cipher == .chacha20Poly1305)
            #expect(pair.b.tunnel.sessions().peers[0].current?.cipher == .chacha20Poly1305)
            let frame = try #require(pair.a.sealFrame(payload, now: pair.now))
            guard case .frame = pair.deliver(frame, toB: true) else { Issue.record("frame did not open"); return }
        }
    }

    @Test("forged datagrams are refused and counted: random bytes, plaintext frames, a wrong key, every single-bit change",
          arguments: FrameCipher.available)
    func forgeries(cipher: FrameCipher) throws {
        let pair = try TunnelPair(ciphers: ([cipher], [cipher]))
        #expect(pair.cipher == nil)
        #expect(pair.establish())
        let openedBefore = pair.b.opened.count
        var generator = SystemRandomNumberGenerator()
        for length in [0, 1, 15, 16, 31, 32, 100, 1400] {
            pair.deliver((0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }, toB: true)
        }
        let plaintext = [UInt8](repeating: 0, count: 16).withUnsafeBytes { header in
            payload.withUnsafeBytes { WireFormat.plaintextFrame(type: .data, header: UnsafeRawBufferPointer(rebasing: header[0..<8]), payload: $0) }
        }
        pair.deliver(plaintext, toB: true)
        #expect(pair.b.counters.refusedPlaintext >= 1)
        // A stranger with its own session keys, and B's index copied in.
        let strangerPair = try TunnelPair(seed: 99)
        #expect(strangerPair.establish())
        var strangers = try #require(strangerPair.a.sealFrame(payload, now: strangerPair.now))
        let genuine = try #require(pair.a.sealFrame(payload, now: pair.now))
        strangers.replaceSubrange(4..<8, with: genuine[4..<8])
        pair.deliver(strangers, toB: true)
        #expect(pair.b.counters.refusedAuthentication == 1)
        for bit in 0..<(genuine.count * 8) {
            var flipped = genuine
            flipped[bit / 8] ^= UInt8(1 << (bit % 8))
            if case .frame = pair.deliver(flipped, toB: true) { Issue.record("bit \(bit) flipped was accepted") }
        }
        #expect(pair.b.opened.count == openedBefore, "nothing forged was opened")
        guard case .frame = pair.deliver(genuine, toB: true) else { Issue.record("the genuine frame must still open"); return }
    }

    @Test("a restarted gateway recovers within a second of the first packet, even when its first initiation is lost")
    func restart() throws {
        let pair = try TunnelPair()
        #expect(pair.establish())
        pair.now += 10_000_000_000
        pair.b.wallOffset += 10_000_000_000
        try pair.b.restart(peerKey: pair.a.privateKey.publicKey, psk: nil, timers: pair.timers, seed: 77, now: pair.now)
        // B's first initiation after the restart is lost.
        var dropped = false
        pair.network = { toB, bytes in
            if !toB && !dropped && bytes[1] == HandshakeWire.initiationType {
                dropped = true
                return []
            }
            return [25_000_000]
        }
        #expect(pair.run(for: 10_000_000) { dropped })
        // A keeps sending under the old session: B's first sight of it starts the recovery. Both
        // send whenever they can (as gateways send keepalives), which confirms the new session.
        let start = pair.now
        let openedBefore = (pair.a.opened.count, pair.b.opened.count)
        var recovered = false
        while pair.now - start < 1_000_000_000 && !recovered {
            for toB in [true, false] {
                if let frame = pair.side(!toB).sealFrame(payload, now: pair.now) { pair.send(toB: toB, frame) }
            }
            recovered = pair.run(for: 10_000_000) { pair.a.opened.count > openedBefore.0 && pair.b.opened.count > openedBefore.1 }
        }
        #expect(recovered, "recovered after \(Double(pair.now - start) / 1e6) ms; A \(pair.a.tunnel.counters(peer: 0)) B \(pair.b.tunnel.counters(peer: 0)) \(pair.b.counters)")
        #expect(pair.b.counters.refusedUnknownSession >= 1)
    }

    @Test("sessions are replaced before they expire while frames flow both ways; none is lost to a rekey")
    func rekeys() throws {
        var timers = TunnelTimers()
        timers.rekeyAfter = 2_000_000_000
        timers.rekeyEitherSideAfter = 2_500_000_000
        timers.rejectAfter = 3_000_000_000
        let pair = try TunnelPair(timers: timers)
        #expect(pair.establish())
        var sent = 0
        let start = pair.now
        while pair.now - start < 12_000_000_000 {
            for toB in [true, false] {
                if let frame = pair.side(!toB).sealFrame(payload, now: pair.now) {
                    pair.send(toB: toB, frame)
                    sent += 1
                }
            }
            pair.run(for: 10_000_000)
        }
        pair.run(for: 100_000_000)
        let completed = pair.a.tunnel.counters(peer: 0).completedAsInitiator + pair.b.tunnel.counters(peer: 0).completedAsInitiator
        #expect(completed >= 5, "a rekey about every 2 s")
        #expect(sent >= 2 * 1150, "sealing never stopped for long")
        #expect(pair.a.counters.refused + pair.b.counters.refused == 0, "\(pair.a.counters) \(pair.b.counters)")
        #expect(pair.a.opened.count + pair.b.opened.count >= sent, "every frame sealed was opened")
    }

    @Test("under a flood of initiations from the peer's address, cookies let the real peer handshake and the flood is refused")
    func floodAndCookies() throws {
        var timers = TunnelTimers()
        timers.underLoadThreshold = 16
        let pair = try TunnelPair(timers: timers)
        #expect(pair.establish())
        // The attacker knows B's public key (mac1 is valid) but not A's private key.
        let attacker = try SecureTunnel(
            settings: TunnelSettings(privateKey: PrivateKey.generate(), peers: [(pair.b.privateKey.publicKey, nil)], timers: timers), now: 0)
        var flood: [[UInt8]] = []
        for step in 0..<200 {
            attacker.tick(now: UInt64(step) * 2_000_000_000, wallNanoseconds: 1) { _, bytes in flood.append(Array(bytes)) }
        }
        #expect(flood.count >= 100)
        for message in flood { pair.deliver(message, toB: true) }
        let counters = pair.b.tunnel.counters(peer: 0)
        #expect(counters.refusedNeedsCookie > 0 && counters.cookiesSent == counters.refusedNeedsCookie)
        #expect(counters.refusedWrongKey <= UInt64(timers.underLoadThreshold) + 1, "past the threshold no flood message costs a DH")
        // The cookie replies went to A (the address was A's): A refuses them, it sent no such initiation.
        pair.run(for: 100_000_000)
        #expect(pair.a.tunnel.counters(peer: 0).refusedUnexpected > 0)
        // Now A rekeys while B is under load: it gets a cookie, sends again with it, and completes.
        let completedBefore = pair.a.tunnel.counters(peer: 0).completedAsInitiator
        for message in flood.prefix(40) { pair.deliver(message, toB: true) }
        pair.a.tunnel.rekeyWanted(peer: 0)
        #expect(pair.run(for: 2_000_000_000) { pair.a.tunnel.counters(peer: 0).completedAsInitiator > completedBefore })
        #expect(pair.a.tunnel.counters(peer: 0).cookiesReceived >= 1)
    }

    @Test("lanes seal with keys of their own: the same frame on two lanes differs, and each opens at the peer")
    func lanesHaveOwnKeys() throws {
        let pair = try TunnelPair(lanes: 2)
        #expect(pair.establish())
        let onLane0 = try #require(pair.a.sealFrame(payload, lane: 0, now: pair.now))
        let onLane1 = try #require(pair.a.sealFrame(payload, lane: 1, now: pair.now))
        #expect(onLane0[2] == 0 && onLane1[2] == 1)
        #expect(onLane0[16...] != onLane1[16...])
        guard case .frame = pair.deliver(onLane0, toB: true, lane: 0), case .frame = pair.deliver(onLane1, toB: true, lane: 1) else {
            Issue.record("a lane's frame did not open")
            return
        }
        // The lane byte is authenticated: moving a frame to another lane's key fails (its counter
        // is made higher than lane 0's, so the window does not refuse it first).
        for _ in 0..<4 { _ = pair.a.sealFrame(payload, lane: 1, now: pair.now) }
        var moved = try #require(pair.a.sealFrame(payload, lane: 1, now: pair.now))
        moved[2] = 0
        #expect(pair.b.counters.refusedAuthentication == 0)
        pair.deliver(moved, toB: true, lane: 0)
        #expect(pair.b.counters.refusedAuthentication == 1)
    }

    @Test("a session past its age limit is neither sealed with nor accepted")
    func expiry() throws {
        var timers = TunnelTimers()
        timers.rejectAfter = 3_000_000_000
        timers.rekeyAfter = 100_000_000_000
        timers.rekeyEitherSideAfter = 100_000_000_000
        let pair = try TunnelPair(timers: timers)
        #expect(pair.establish())
        let frame = try #require(pair.a.sealFrame(payload, now: pair.now))
        pair.network = { _, _ in [] }  // the peer is gone: no new session can be made
        pair.now += 3_000_000_000
        #expect(pair.a.sealFrame(payload, now: pair.now) == nil)
        pair.deliver(frame, toB: true)
        #expect(pair.b.counters.refusedExpiredSession + pair.b.counters.refusedUnknownSession == 1)
        #expect(pair.a.counters.unsentNoSession >= 1)
    }

    @Test("sealing and opening a batch allocate nothing", arguments: FrameCipher.available)
    func noAllocations(cipher: FrameCipher) throws {
        let pair = try TunnelPair(ciphers: ([cipher], [cipher]))
        #expect(pair.establish())
        _ = pair.a.sealFrame(payload, now: pair.now)
        let lane = pair.a.lanes[0]
        let peerLane = pair.b.lanes[0]
        let length = WireFormat.envelopeSize + WireFormat.dataHeaderSize + 1400
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: length + 64, alignment: 64)
        defer { buffer.deallocate() }
        let now = pair.now
        var opened = 0
        // Warm up: the replay window of the lane is made on its first frame.
        for round in 0..<2 {
            if round == 1 { allocation_counter_start() }
            for _ in 0..<500 {
                buffer.initializeMemory(as: UInt8.self, repeating: 0x5A, count: length)
                WireFormat.writeSealableEnvelope(buffer, type: .data, lane: 0)
                let sealed = lane.seal(frame: buffer, length: length, peer: 0, now: now)
                if case .frame = peerLane.open(UnsafeMutableRawBufferPointer(start: buffer, count: sealed), peer: 0, now: now) { opened += 1 }
            }
        }
        let allocations = allocation_counter_stop()
        #expect(opened == 1000)
        #expect(allocations == 0)
    }
}
