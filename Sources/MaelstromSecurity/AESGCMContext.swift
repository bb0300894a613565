import CAEAD

/// One AES-256-GCM key ready to seal or to open, on OpenSSL's EVP interface: the key schedule and
/// GHASH key are computed once, so a frame costs a nonce reset and the cipher itself. Owned by one
/// lane's session (a context is mutable: never shared between threads).
final class AESGCMContext {
    private let context: UnsafeMutableRawPointer

    /// A context for `key` (32 bytes). Only a failed allocation in OpenSSL makes none, and then the
    /// process could not go on anyway.
    init(key: UnsafeRawPointer, sealing: Bool) {
        guard let made = caead_aes256gcm_new(key.assumingMemoryBound(to: UInt8.self), sealing ? 1 : 0) else {
            fatalError("OpenSSL could not make an AES-256-GCM context")
        }
        context = made
    }

    deinit { caead_free(context) }

    /// Seals `count` bytes at `text` in place, the 16-byte tag to `tag`; the nonce is Noise's
    /// (4 zero bytes, the counter little-endian), as for ChaCha20-Poly1305.
    @inline(__always)
    func seal(_ text: UnsafeMutableRawPointer, count: Int, tag: UnsafeMutableRawPointer, ad: UnsafeRawPointer, adCount: Int, counter: UInt64) {
        var nonce = (UInt32(0), UInt32(truncatingIfNeeded: counter).littleEndian, UInt32(truncatingIfNeeded: counter >> 32).littleEndian)
        _ = withUnsafeBytes(of: &nonce) { nonceBytes in
            caead_aes256gcm_seal(
                context, text.assumingMemoryBound(to: UInt8.self), count, tag.assumingMemoryBound(to: UInt8.self),
                ad.assumingMemoryBound(to: UInt8.self), adCount, nonceBytes.baseAddress!.assumingMemoryBound(to: UInt8.self))
        }
    }

    /// Opens in place; false when the tag did not verify.
    @inline(__always)
    func open(_ text: UnsafeMutableRawPointer, count: Int, tag: UnsafeRawPointer, ad: UnsafeRawPointer, adCount: Int, counter: UInt64) -> Bool {
        var nonce = (UInt32(0), UInt32(truncatingIfNeeded: counter).littleEndian, UInt32(truncatingIfNeeded: counter >> 32).littleEndian)
        return withUnsafeBytes(of: &nonce) { nonceBytes in
            caead_aes256gcm_open(
                context, text.assumingMemoryBound(to: UInt8.self), count, tag.assumingMemoryBound(to: UInt8.self),
                ad.assumingMemoryBound(to: UInt8.self), adCount, nonceBytes.baseAddress!.assumingMemoryBound(to: UInt8.self)) == 0
        }
    }
}
