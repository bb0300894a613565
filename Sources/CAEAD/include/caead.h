#ifndef CAEAD_H
#define CAEAD_H

#include <stddef.h>
#include <stdint.h>

/// An AES-256-GCM context of OpenSSL's with its key schedule and GHASH key computed once, for
/// sealing (encrypt != 0) or opening. NULL when OpenSSL cannot make one.
void *caead_aes256gcm_new(const uint8_t *key, int encrypt);

/// Frees a context and wipes its key schedule.
void caead_free(void *context);

/// Seals `count` bytes in place with a 12-byte nonce and `adCount` bytes of additional data,
/// writing the 16-byte tag to `tag`. Returns 0, or -1 when OpenSSL refused.
int caead_aes256gcm_seal(void *context, uint8_t *text, size_t count, uint8_t *tag, const uint8_t *ad, size_t adCount,
                         const uint8_t *nonce);

/// Opens in place; returns 0 when the tag verified, -1 otherwise (the text is then garbage).
int caead_aes256gcm_open(void *context, uint8_t *text, size_t count, const uint8_t *tag, const uint8_t *ad, size_t adCount,
                         const uint8_t *nonce);

#endif
