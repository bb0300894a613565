// AES-256-GCM on the packet path through OpenSSL's EVP interface: its stitched AES-NI/VAES and
// carry-less-multiply code runs 1.5x libsodium's here (docs/GATEWAY.md), and a context keeps the
// key schedule, so a frame costs only a nonce reset. No allocation after caead_aes256gcm_new.
#include "caead.h"

#include <limits.h>
#include <openssl/evp.h>

void *caead_aes256gcm_new(const uint8_t *key, int encrypt) {
    EVP_CIPHER_CTX *context = EVP_CIPHER_CTX_new();
    if (context == NULL) return NULL;
    if (EVP_CipherInit_ex(context, EVP_aes_256_gcm(), NULL, key, NULL, encrypt ? 1 : 0) != 1) {
        EVP_CIPHER_CTX_free(context);
        return NULL;
    }
    return context;
}

void caead_free(void *context) { EVP_CIPHER_CTX_free((EVP_CIPHER_CTX *)context); }

int caead_aes256gcm_seal(void *raw, uint8_t *text, size_t count, uint8_t *tag, const uint8_t *ad, size_t adCount,
                         const uint8_t *nonce) {
    EVP_CIPHER_CTX *context = raw;
    int length = 0;
    if (count > INT_MAX || adCount > INT_MAX) return -1;
    if (EVP_CipherInit_ex(context, NULL, NULL, NULL, nonce, 1) != 1) return -1;
    if (adCount > 0 && EVP_CipherUpdate(context, NULL, &length, ad, (int)adCount) != 1) return -1;
    if (count > 0 && EVP_CipherUpdate(context, text, &length, text, (int)count) != 1) return -1;
    if (EVP_CipherFinal_ex(context, text + count, &length) != 1) return -1;
    return EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_GET_TAG, 16, tag) == 1 ? 0 : -1;
}

int caead_aes256gcm_open(void *raw, uint8_t *text, size_t count, const uint8_t *tag, const uint8_t *ad, size_t adCount,
                         const uint8_t *nonce) {
    EVP_CIPHER_CTX *context = raw;
    int length = 0;
    if (count > INT_MAX || adCount > INT_MAX) return -1;
    if (EVP_CipherInit_ex(context, NULL, NULL, NULL, nonce, 0) != 1) return -1;
    if (adCount > 0 && EVP_CipherUpdate(context, NULL, &length, ad, (int)adCount) != 1) return -1;
    if (count > 0 && EVP_CipherUpdate(context, text, &length, text, (int)count) != 1) return -1;
    if (EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_SET_TAG, 16, (void *)tag) != 1) return -1;
    return EVP_CipherFinal_ex(context, text + count, &length) == 1 ? 0 : -1;
}
