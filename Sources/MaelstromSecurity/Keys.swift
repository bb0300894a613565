import Crypto
import Foundation

/// A gateway's static Curve25519 public key: 32 bytes, written as 44 characters of base64 (as
/// `wg pubkey` prints one). Peers are known by it.
public struct PublicKey: Sendable, Hashable, CustomStringConvertible {
    /// The 32 key bytes.
    public let bytes: [UInt8]

    /// The key of 32 `bytes`; nil for any other length.
    public init?(bytes: [UInt8]) {
        guard bytes.count == KeyText.keyBytes else { return nil }
        self.bytes = bytes
    }

    /// The key written as `base64`; nil unless it is 44 characters of padded base64 holding 32 bytes.
    public init?(base64: String) {
        guard let bytes = KeyText.decode(base64) else { return nil }
        self.bytes = bytes
    }

    /// The key as base64.
    public var base64: String { KeyText.encode(bytes) }
    /// The key as base64.
    public var description: String { base64 }
}

/// A gateway's static Curve25519 private key. Its description never shows the key.
public struct PrivateKey: Sendable, Equatable, CustomStringConvertible {
    /// The 32 key bytes (clamped when generated here; X25519 clamps any other on use).
    public let bytes: [UInt8]

    /// The key of 32 `bytes`; nil for any other length.
    public init?(bytes: [UInt8]) {
        guard bytes.count == KeyText.keyBytes else { return nil }
        self.bytes = bytes
    }

    /// The key written as `base64`; nil unless it is 44 characters of padded base64 holding 32 bytes.
    public init?(base64: String) {
        guard let bytes = KeyText.decode(base64) else { return nil }
        self.bytes = bytes
    }

    /// A new random key from the system's generator, clamped as `wg genkey` clamps it.
    public static func generate() -> PrivateKey {
        var bytes = Array(Curve25519.KeyAgreement.PrivateKey().rawRepresentation)
        bytes[0] &= 248
        bytes[31] = (bytes[31] & 127) | 64
        return PrivateKey(bytes: bytes)!
    }

    /// The public key that goes with this key.
    public var publicKey: PublicKey {
        // A 32-byte raw representation is always accepted.
        let key = try! Curve25519.KeyAgreement.PrivateKey(rawRepresentation: bytes)
        return PublicKey(bytes: Array(key.publicKey.rawRepresentation))!
    }

    /// The key as base64 (for `maelstromd genkey` only: never log it).
    public var base64: String { KeyText.encode(bytes) }
    /// Redacted.
    public var description: String { "(private key)" }
}

/// An optional symmetric key shared by two peers, mixed into their handshake (the `psk` of
/// Noise_IKpsk2): a second secret that a future break of Curve25519 alone would not reveal.
public struct PresharedKey: Sendable, Equatable, CustomStringConvertible {
    /// The 32 key bytes.
    public let bytes: [UInt8]

    /// The key of 32 `bytes`; nil for any other length.
    public init?(bytes: [UInt8]) {
        guard bytes.count == KeyText.keyBytes else { return nil }
        self.bytes = bytes
    }

    /// The key written as `base64`; nil unless it is 44 characters of padded base64 holding 32 bytes.
    public init?(base64: String) {
        guard let bytes = KeyText.decode(base64) else { return nil }
        self.bytes = bytes
    }

    /// A new random key from the system's generator.
    public static func generate() -> PresharedKey {
        var generator = SystemRandomNumberGenerator()
        return PresharedKey(bytes: (0..<KeyText.keyBytes).map { _ in UInt8.random(in: .min ... .max, using: &generator) })!
    }

    /// The key as base64 (for `maelstromd genpsk` only: never log it).
    public var base64: String { KeyText.encode(bytes) }
    /// Redacted.
    public var description: String { "(preshared key)" }
}

/// How keys are written: 32 bytes as 44 characters of standard, padded base64, as WireGuard's tools write them.
public enum KeyText {
    /// Bytes of every key.
    public static let keyBytes = 32
    /// Characters of a key written out.
    public static let characters = 44

    /// The 32 bytes `text` holds (surrounding whitespace, such as a file's final newline, ignored); nil otherwise.
    public static func decode(_ text: String) -> [UInt8]? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.utf8.count == characters, let data = Data(base64Encoded: trimmed), data.count == keyBytes else { return nil }
        return Array(data)
    }

    /// `bytes` as padded base64.
    public static func encode(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }
}
