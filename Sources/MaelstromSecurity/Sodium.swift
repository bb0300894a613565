import CSodium

/// The libsodium calls the tunnel uses where swift-crypto would allocate: ChaCha20-Poly1305 in
/// place with a detached tag (every datagram), HMAC-SHA256 into caller memory (the handshake
/// MACs, checked for every handshake message before any expensive work), XChaCha20-Poly1305 (the
/// cookie reply), constant-time comparison and zeroing. Stateless; safe from any thread.
enum Sodium {
    /// `sodium_init` once per process: it picks the vectorised ChaCha20 and Poly1305 (2.4× faster
    /// than the portable code it uses otherwise). Idempotent and thread-safe.
    static let initialised: Bool = sodium_init() >= 0

    /// Bytes of a ChaCha20-Poly1305 tag.
    static let tagBytes = 16
    /// Bytes of an IETF ChaCha20-Poly1305 nonce.
    static let nonceBytes = 12

    /// Encrypts `count` bytes at `text` in place and writes the tag at `tag`, authenticating `ad`
    /// too. The nonce is Noise's: 32 zero bits, then `counter` little-endian.
    @inline(__always)
    static func seal(
        _ text: UnsafeMutableRawPointer, count: Int, tag: UnsafeMutableRawPointer,
        ad: UnsafeRawPointer, adCount: Int, counter: UInt64, key: UnsafeRawPointer
    ) {
        // Three 32-bit words, so the tuple has no padding: 0, then the counter's low and high halves.
        var nonce = (UInt32(0), UInt32(truncatingIfNeeded: counter).littleEndian, UInt32(truncatingIfNeeded: counter >> 32).littleEndian)
        withUnsafeBytes(of: &nonce) { nonceBytes in
            _ = crypto_aead_chacha20poly1305_ietf_encrypt_detached(
                text.assumingMemoryBound(to: UInt8.self), tag.assumingMemoryBound(to: UInt8.self), nil,
                text.assumingMemoryBound(to: UInt8.self), UInt64(count),
                ad.assumingMemoryBound(to: UInt8.self), UInt64(adCount), nil,
                nonceBytes.baseAddress!.assumingMemoryBound(to: UInt8.self), key.assumingMemoryBound(to: UInt8.self))
        }
    }

    /// Checks the tag at `tag` over `count` bytes at `text` and `ad`, then decrypts in place.
    /// Returns false when the tag is wrong (libsodium then zeroes the text).
    @inline(__always)
    static func open(
        _ text: UnsafeMutableRawPointer, count: Int, tag: UnsafeRawPointer,
        ad: UnsafeRawPointer, adCount: Int, counter: UInt64, key: UnsafeRawPointer
    ) -> Bool {
        // Three 32-bit words, so the tuple has no padding: 0, then the counter's low and high halves.
        var nonce = (UInt32(0), UInt32(truncatingIfNeeded: counter).littleEndian, UInt32(truncatingIfNeeded: counter >> 32).littleEndian)
        return withUnsafeBytes(of: &nonce) { nonceBytes in
            crypto_aead_chacha20poly1305_ietf_decrypt_detached(
                text.assumingMemoryBound(to: UInt8.self), nil,
                text.assumingMemoryBound(to: UInt8.self), UInt64(count), tag.assumingMemoryBound(to: UInt8.self),
                ad.assumingMemoryBound(to: UInt8.self), UInt64(adCount),
                nonceBytes.baseAddress!.assumingMemoryBound(to: UInt8.self), key.assumingMemoryBound(to: UInt8.self)) == 0
        }
    }

    /// Whether this CPU runs AES-256-GCM in hardware (AES-NI and PCLMUL), as libsodium detects it: only
    /// then is AES-256-GCM offered (OpenSSL seals it; without the instructions it would be slow).
    static let hasHardwareAES: Bool = initialised && crypto_aead_aes256gcm_is_available() == 1

    /// HMAC-SHA256 of `message` under `key`, its first `output.count` (≤ 32) bytes into `output`.
    static func hmacSHA256(key: UnsafeRawBufferPointer, message: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) {
        var state = crypto_auth_hmacsha256_state()
        var digest = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        _ = crypto_auth_hmacsha256_init(&state, key.baseAddress!.assumingMemoryBound(to: UInt8.self), key.count)
        if let bytes = message.baseAddress {
            _ = crypto_auth_hmacsha256_update(&state, bytes.assumingMemoryBound(to: UInt8.self), UInt64(message.count))
        }
        withUnsafeMutableBytes(of: &digest) { raw in
            _ = crypto_auth_hmacsha256_final(&state, raw.baseAddress!.assumingMemoryBound(to: UInt8.self))
            output.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[0..<min(32, output.count)]))
            sodium_memzero(raw.baseAddress, 32)
        }
        withUnsafeMutableBytes(of: &state) { sodium_memzero($0.baseAddress, $0.count) }
    }

    /// Whether `a` and `b` hold the same bytes, in time that does not depend on where they differ.
    static func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        guard a.count > 0 else { return true }
        return sodium_memcmp(a.baseAddress, b.baseAddress, a.count) == 0
    }

    /// XChaCha20-Poly1305 of `plaintext` (ciphertext then tag into `output`, which holds
    /// `plaintext.count + 16` bytes) under the 32-byte `key` and 24-byte `nonce`.
    static func xseal(
        _ plaintext: UnsafeRawBufferPointer, ad: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer,
        key: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer
    ) {
        var length: UInt64 = 0
        _ = crypto_aead_xchacha20poly1305_ietf_encrypt(
            output.baseAddress!.assumingMemoryBound(to: UInt8.self), &length,
            plaintext.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(plaintext.count),
            ad.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(ad.count), nil,
            nonce.baseAddress!.assumingMemoryBound(to: UInt8.self), key.baseAddress!.assumingMemoryBound(to: UInt8.self))
    }

    /// Opens what `xseal` made into `output` (`sealed.count - 16` bytes); false when forged.
    static func xopen(
        _ sealed: UnsafeRawBufferPointer, ad: UnsafeRawBufferPointer, nonce: UnsafeRawBufferPointer,
        key: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer
    ) -> Bool {
        guard sealed.count >= tagBytes, output.count >= sealed.count - tagBytes else { return false }
        var length: UInt64 = 0
        return crypto_aead_xchacha20poly1305_ietf_decrypt(
            output.baseAddress!.assumingMemoryBound(to: UInt8.self), &length, nil,
            sealed.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(sealed.count),
            ad.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(ad.count),
            nonce.baseAddress!.assumingMemoryBound(to: UInt8.self), key.baseAddress!.assumingMemoryBound(to: UInt8.self)) == 0
    }

    /// Overwrites `count` bytes at `bytes` with zeros in a way the compiler does not remove.
    static func wipe(_ bytes: UnsafeMutableRawPointer, count: Int) { sodium_memzero(bytes, count) }

    /// Wipes the contents of a byte array before it is released.
    static func wipe(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { if let base = $0.baseAddress { sodium_memzero(base, $0.count) } }
    }
}
