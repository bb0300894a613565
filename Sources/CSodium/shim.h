/* libsodium, for the packet path's in-place ChaCha20-Poly1305 (docs/SECURITY.md says why). */
#include <sodium.h>
