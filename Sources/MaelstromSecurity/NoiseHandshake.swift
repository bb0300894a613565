import CSodium
import Crypto

/// Why a handshake message was refused by the Noise layer.
public enum NoiseError: Error, Sendable, Equatable {
    /// Shorter or longer than the pattern allows.
    case badLength
    /// An AEAD tag did not verify: wrong keys, or the message was altered.
    case decryptFailed
    /// A Diffie-Hellman result was all zeros: the peer sent a low-order point.
    case lowOrderPoint
    /// Bytes that are not a Curve25519 key.
    case badKey
}

/// The symmetric half of a Noise handshake with SHA-256 and ChaCha20-Poly1305 (Noise §5.2):
/// the chaining key, the transcript hash and the current cipher key.
struct NoiseSymmetricState {
    private(set) var h: [UInt8]
    private(set) var ck: [UInt8]
    private var k: [UInt8]? = nil
    private var n: UInt64 = 0

    init(protocolName: String) {
        let name = Array(protocolName.utf8)
        // Names longer than the hash are hashed, shorter ones zero-padded (Noise §5.2, InitializeSymmetric).
        h = name.count <= 32 ? name + [UInt8](repeating: 0, count: 32 - name.count) : Array(SHA256.hash(data: name))
        ck = h
    }

    mutating func mixHash(_ data: [UInt8]) {
        var hasher = SHA256()
        hasher.update(data: h)
        hasher.update(data: data)
        h = Array(hasher.finalize())
    }

    mutating func mixKey(_ input: [UInt8]) {
        let out = Self.hkdf(chainingKey: ck, input: input, outputs: 2)
        ck = out[0]
        k = out[1]
        n = 0
    }

    mutating func mixKeyAndHash(_ input: [UInt8]) {
        let out = Self.hkdf(chainingKey: ck, input: input, outputs: 3)
        ck = out[0]
        mixHash(out[1])
        k = out[2]
        n = 0
    }

    mutating func encryptAndHash(_ plaintext: [UInt8]) -> [UInt8] {
        guard let k else {
            mixHash(plaintext)
            return plaintext
        }
        let ciphertext = Self.seal(plaintext, key: k, nonce: n, ad: h)
        n += 1
        mixHash(ciphertext)
        return ciphertext
    }

    mutating func decryptAndHash(_ ciphertext: [UInt8]) throws(NoiseError) -> [UInt8] {
        guard let k else {
            mixHash(ciphertext)
            return ciphertext
        }
        let plaintext = try Self.open(ciphertext, key: k, nonce: n, ad: h)
        n += 1
        mixHash(ciphertext)
        return plaintext
    }

    /// The two transport keys: initiator-to-responder, then responder-to-initiator.
    func split() -> (initiatorToResponder: [UInt8], responderToInitiator: [UInt8]) {
        let out = Self.hkdf(chainingKey: ck, input: [], outputs: 2)
        return (out[0], out[1])
    }

    /// Noise's HKDF: HMAC-SHA256 extract with the chaining key as salt, then 1 to 3 chained outputs.
    static func hkdf(chainingKey: [UInt8], input: [UInt8], outputs: Int) -> [[UInt8]] {
        let prk = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: input, using: SymmetricKey(data: chainingKey))))
        var results: [[UInt8]] = []
        var previous: [UInt8] = []
        for index in 1...outputs {
            previous = Array(HMAC<SHA256>.authenticationCode(for: previous + [UInt8(index)], using: prk))
            results.append(previous)
        }
        return results
    }

    static func nonce(_ counter: UInt64) -> ChaChaPoly.Nonce {
        var bytes = [UInt8](repeating: 0, count: 12)
        withUnsafeBytes(of: counter.littleEndian) { bytes.replaceSubrange(4..<12, with: $0) }
        return try! ChaChaPoly.Nonce(data: bytes)
    }

    static func seal(_ plaintext: [UInt8], key: [UInt8], nonce counter: UInt64, ad: [UInt8]) -> [UInt8] {
        // Sealing with a 32-byte key and a 12-byte nonce cannot fail.
        let box = try! ChaChaPoly.seal(plaintext, using: SymmetricKey(data: key), nonce: nonce(counter), authenticating: ad)
        return Array(box.ciphertext) + Array(box.tag)
    }

    static func open(_ ciphertext: [UInt8], key: [UInt8], nonce counter: UInt64, ad: [UInt8]) throws(NoiseError) -> [UInt8] {
        guard ciphertext.count >= 16 else { throw .badLength }
        do {
            let box = try ChaChaPoly.SealedBox(
                nonce: nonce(counter), ciphertext: ciphertext[..<(ciphertext.count - 16)], tag: ciphertext[(ciphertext.count - 16)...])
            return Array(try ChaChaPoly.open(box, using: SymmetricKey(data: key), authenticating: ad))
        } catch {
            throw .decryptFailed
        }
    }
}

/// X25519 with the all-zero check that swift-crypto leaves out (a low-order peer point gives a
/// zero secret, which would make the session keys predictable).
enum Curve25519DH {
    // libsodium's X25519, not swift-crypto's: swift-crypto takes a private key only as a
    // `PrivateKey`, whose initialiser derives the public key, so every DH cost two scalar
    // multiplications instead of one (and in a debug build BoringSSL's unoptimised C made a
    // handshake take milliseconds, the handshake fuzzer's 15 runs a second).
    static func publicKey(of privateKey: [UInt8]) throws(NoiseError) -> [UInt8] {
        guard privateKey.count == 32, Sodium.initialised else { throw .badKey }
        var publicKey = [UInt8](repeating: 0, count: 32)
        let status = publicKey.withUnsafeMutableBufferPointer { output in
            privateKey.withUnsafeBufferPointer { crypto_scalarmult_base(output.baseAddress!, $0.baseAddress!) }
        }
        guard status == 0 else { throw .badKey }
        return publicKey
    }

    static func sharedSecret(_ privateKey: [UInt8], _ publicKey: [UInt8]) throws(NoiseError) -> [UInt8] {
        guard privateKey.count == 32, publicKey.count == 32, Sodium.initialised else { throw .badKey }
        var secret = [UInt8](repeating: 0, count: 32)
        let status = secret.withUnsafeMutableBufferPointer { output in
            privateKey.withUnsafeBufferPointer { own in
                publicKey.withUnsafeBufferPointer { crypto_scalarmult(output.baseAddress!, own.baseAddress!, $0.baseAddress!) }
            }
        }
        // libsodium refuses a low-order point and a result of all zeros alike (in constant time).
        guard status == 0 else { throw .lowOrderPoint }
        return secret
    }
}

/// Noise_IKpsk2_25519_ChaChaPoly_SHA256, the initiator's side:
/// `-> e, es, s, ss` with a payload, then `<- e, ee, se, psk` with a payload.
///
/// Everything random comes in (the ephemeral key), so the published test vectors run through it.
struct NoiseInitiator {
    static let protocolName = "Noise_IKpsk2_25519_ChaChaPoly_SHA256"

    private var state: NoiseSymmetricState
    private let staticPrivate: [UInt8]
    private let staticPublic: [UInt8]
    private let remoteStatic: [UInt8]
    private let psk: [UInt8]
    private let ephemeralPrivate: [UInt8]
    private let ephemeralPublic: [UInt8]

    init(prologue: [UInt8], staticPrivate: [UInt8], remoteStatic: [UInt8], psk: [UInt8], ephemeralPrivate: [UInt8]) throws(NoiseError) {
        state = NoiseSymmetricState(protocolName: Self.protocolName)
        state.mixHash(prologue)
        state.mixHash(remoteStatic)
        self.staticPrivate = staticPrivate
        self.staticPublic = try Curve25519DH.publicKey(of: staticPrivate)
        self.remoteStatic = remoteStatic
        self.psk = psk
        self.ephemeralPrivate = ephemeralPrivate
        self.ephemeralPublic = try Curve25519DH.publicKey(of: ephemeralPrivate)
    }

    /// The first message: e (32) ‖ encrypted s (48) ‖ encrypted payload (payload + 16).
    mutating func writeFirst(payload: [UInt8]) throws(NoiseError) -> [UInt8] {
        state.mixHash(ephemeralPublic)
        state.mixKey(ephemeralPublic)  // psk handshakes mix e into the key too (Noise §9.2)
        state.mixKey(try Curve25519DH.sharedSecret(ephemeralPrivate, remoteStatic))
        let encryptedStatic = state.encryptAndHash(staticPublic)
        state.mixKey(try Curve25519DH.sharedSecret(staticPrivate, remoteStatic))
        let encryptedPayload = state.encryptAndHash(payload)
        return ephemeralPublic + encryptedStatic + encryptedPayload
    }

    /// Reads the response: e (32) ‖ encrypted payload; returns the payload.
    mutating func readSecond(_ message: [UInt8]) throws(NoiseError) -> [UInt8] {
        guard message.count >= 32 + 16 else { throw .badLength }
        let remoteEphemeral = Array(message[0..<32])
        state.mixHash(remoteEphemeral)
        state.mixKey(remoteEphemeral)
        state.mixKey(try Curve25519DH.sharedSecret(ephemeralPrivate, remoteEphemeral))
        state.mixKey(try Curve25519DH.sharedSecret(staticPrivate, remoteEphemeral))
        state.mixKeyAndHash(psk)
        return try state.decryptAndHash(Array(message[32...]))
    }

    /// After `readSecond`: (sending key, receiving key).
    func split() -> (send: [UInt8], receive: [UInt8]) {
        let keys = state.split()
        return (keys.initiatorToResponder, keys.responderToInitiator)
    }

    /// The transcript hash.
    var handshakeHash: [UInt8] { state.h }
}

/// Noise_IKpsk2_25519_ChaChaPoly_SHA256, the responder's side. It learns who the initiator is
/// from the first message, and only then needs that peer's pre-shared key.
struct NoiseResponder {
    private var state: NoiseSymmetricState
    private let staticPrivate: [UInt8]
    private var remoteEphemeral: [UInt8] = []
    private(set) var remoteStatic: [UInt8] = []

    init(prologue: [UInt8], staticPrivate: [UInt8]) throws(NoiseError) {
        state = NoiseSymmetricState(protocolName: NoiseInitiator.protocolName)
        state.mixHash(prologue)
        state.mixHash(try Curve25519DH.publicKey(of: staticPrivate))
        self.staticPrivate = staticPrivate
    }

    /// Reads the first message: returns the initiator's static key and the payload.
    /// `payloadCount` is the plaintext payload's length (the pattern fixes the rest).
    mutating func readFirst(_ message: [UInt8]) throws(NoiseError) -> (remoteStatic: [UInt8], payload: [UInt8]) {
        guard message.count >= 32 + 48 + 16 else { throw .badLength }
        remoteEphemeral = Array(message[0..<32])
        state.mixHash(remoteEphemeral)
        state.mixKey(remoteEphemeral)
        state.mixKey(try Curve25519DH.sharedSecret(staticPrivate, remoteEphemeral))
        remoteStatic = try state.decryptAndHash(Array(message[32..<80]))
        state.mixKey(try Curve25519DH.sharedSecret(staticPrivate, remoteStatic))
        let payload = try state.decryptAndHash(Array(message[80...]))
        return (remoteStatic, payload)
    }

    /// The response: e (32) ‖ encrypted payload. `psk` is the initiator's pre-shared key.
    mutating func writeSecond(payload: [UInt8], psk: [UInt8], ephemeralPrivate: [UInt8]) throws(NoiseError) -> [UInt8] {
        let ephemeralPublic = try Curve25519DH.publicKey(of: ephemeralPrivate)
        state.mixHash(ephemeralPublic)
        state.mixKey(ephemeralPublic)
        state.mixKey(try Curve25519DH.sharedSecret(ephemeralPrivate, remoteEphemeral))
        state.mixKey(try Curve25519DH.sharedSecret(ephemeralPrivate, remoteStatic))
        state.mixKeyAndHash(psk)
        return ephemeralPublic + state.encryptAndHash(payload)
    }

    /// After `writeSecond`: (sending key, receiving key).
    func split() -> (send: [UInt8], receive: [UInt8]) {
        let keys = state.split()
        return (keys.responderToInitiator, keys.initiatorToResponder)
    }

    /// The transcript hash.
    var handshakeHash: [UInt8] { state.h }
}
