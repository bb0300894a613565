import Crypto
import Foundation
@testable import MaelstromSecurity
import Testing

/// One published Noise test vector (cacophony's format, trimmed to what IKpsk2 uses).
private struct NoiseVector: Decodable {
    struct Message: Decodable {
        let payload: String
        let ciphertext: String
    }

    let protocol_name: String
    let init_prologue: String
    let init_psks: [String]
    let init_static: String
    let init_ephemeral: String
    let init_remote_static: String
    let resp_static: String
    let resp_ephemeral: String
    let resp_psks: [String]
    let handshake_hash: String
    let messages: [Message]

    static func load() throws -> NoiseVector {
        let url = try #require(Bundle.module.url(forResource: "noise-ikpsk2-sha256", withExtension: "json", subdirectory: "Vectors"))
        return try JSONDecoder().decode(NoiseVector.self, from: Data(contentsOf: url))
    }
}

private func hex(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        bytes.append(UInt8(text[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}

private func transport(_ payload: [UInt8], key: [UInt8], nonce: UInt64) -> [UInt8] {
    NoiseSymmetricState.seal(payload, key: key, nonce: nonce, ad: [])
}

@Suite("Noise_IKpsk2_25519_ChaChaPoly_SHA256 against the published vector")
struct NoiseVectorTests {
    @Test("both handshake messages, the handshake hash and four transport messages match the cacophony vector byte for byte")
    func cacophonyVector() throws {
        let vector = try NoiseVector.load()
        #expect(vector.protocol_name == NoiseInitiator.protocolName)
        var initiator = try NoiseInitiator(
            prologue: hex(vector.init_prologue), staticPrivate: hex(vector.init_static),
            remoteStatic: hex(vector.init_remote_static), psk: hex(vector.init_psks[0]), ephemeralPrivate: hex(vector.init_ephemeral))
        var responder = try NoiseResponder(prologue: hex(vector.init_prologue), staticPrivate: hex(vector.resp_static))

        let first = try initiator.writeFirst(payload: hex(vector.messages[0].payload))
        #expect(first == hex(vector.messages[0].ciphertext))
        let (remoteStatic, payload) = try responder.readFirst(first)
        #expect(payload == hex(vector.messages[0].payload))
        #expect(remoteStatic == (try Curve25519DH.publicKey(of: hex(vector.init_static))))

        let second = try responder.writeSecond(
            payload: hex(vector.messages[1].payload), psk: hex(vector.resp_psks[0]), ephemeralPrivate: hex(vector.resp_ephemeral))
        #expect(second == hex(vector.messages[1].ciphertext))
        #expect(try initiator.readSecond(second) == hex(vector.messages[1].payload))
        #expect(initiator.handshakeHash == hex(vector.handshake_hash))
        #expect(responder.handshakeHash == hex(vector.handshake_hash))

        let initiatorKeys = initiator.split()
        let responderKeys = responder.split()
        #expect(initiatorKeys.send == responderKeys.receive && initiatorKeys.receive == responderKeys.send)
        for (index, message) in vector.messages.enumerated().dropFirst(2) {
            let fromInitiator = index % 2 == 0
            let key = fromInitiator ? initiatorKeys.send : responderKeys.send
            let nonce = UInt64((index - 2) / 2)
            #expect(transport(hex(message.payload), key: key, nonce: nonce) == hex(message.ciphertext), "transport message \(index)")
        }
    }

    @Test("the HKDF matches RFC 5869 test case 3 (empty salt and info), as Noise's KDF must")
    func hkdfVector() {
        // RFC 5869 A.3: IKM = 22 × 0x0b, salt empty (HMAC pads it to the block: same as 32 zero bytes), L = 42.
        let out = NoiseSymmetricState.hkdf(chainingKey: [], input: [UInt8](repeating: 0x0b, count: 22), outputs: 2)
        let okm = Array((out[0] + out[1]).prefix(42))
        #expect(okm == hex("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"))
    }

    @Test("a tampered first message, a wrong responder key and a low-order ephemeral are refused")
    func refusals() throws {
        let vector = try NoiseVector.load()
        func initiator() throws -> NoiseInitiator {
            try NoiseInitiator(
                prologue: hex(vector.init_prologue), staticPrivate: hex(vector.init_static),
                remoteStatic: hex(vector.init_remote_static), psk: hex(vector.init_psks[0]), ephemeralPrivate: hex(vector.init_ephemeral))
        }
        var sender = try initiator()
        let first = try sender.writeFirst(payload: [1, 2, 3])
        for position in [0, 40, 90, first.count - 1] {
            var tampered = first
            tampered[position] ^= 0x01
            var responder = try NoiseResponder(prologue: hex(vector.init_prologue), staticPrivate: hex(vector.resp_static))
            #expect(throws: NoiseError.self) { _ = try responder.readFirst(tampered) }
        }
        var stranger = try NoiseResponder(prologue: hex(vector.init_prologue), staticPrivate: [UInt8](repeating: 7, count: 32))
        #expect(throws: NoiseError.decryptFailed) { _ = try stranger.readFirst(first) }
        var lowOrder = first
        lowOrder.replaceSubrange(0..<32, with: [UInt8](repeating: 0, count: 32))
        var responder = try NoiseResponder(prologue: hex(vector.init_prologue), staticPrivate: hex(vector.resp_static))
        #expect(throws: NoiseError.lowOrderPoint) { _ = try responder.readFirst(lowOrder) }
    }
}
