// AES-CTR keystream in batches, for libssh2 1.10.
//
// libssh2 1.10 (Debian 12's) encrypts and decrypts every packet by calling OpenSSL's EVP_Cipher once per 16-byte
// block; the call overhead, not AES, is most of pss's CPU on bulk transfers (docs/BENCHMARKS.md). In CTR mode the
// keystream does not depend on the data (C = P xor AES(counter++)), so it can be produced ahead: this file defines
// EVP_Cipher, which the dynamic linker binds libssh2's calls to (a symbol of the executable comes first). For a
// CTR-mode context asked for one 16-byte block, it encrypts 4 KiB of zeros with OpenSSL's own EVP_Cipher on that
// same context (which advances its counter exactly as 256 single-block calls would) and hands the keystream out 16
// bytes at a time. The bytes are the ones OpenSSL would produce; every packet's MAC still checks them. Any other
// call (another mode, another length) goes straight to OpenSSL. libssh2 uses each context for one stream, in order,
// from creation to EVP_CIPHER_CTX_free (a rekey makes new contexts), which is what makes reading ahead sound.
// The buffer hangs off the context's app_data (libssh2 does not use it) and is wiped and freed with the context.
#define _GNU_SOURCE
#include "KeystreamBatching.h"

#include <dlfcn.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { BLOCK = 16, AHEAD = 4096 };
static const uint64_t TAG = 0x7073732d6374722dULL;  // "pss-ctr-": marks app_data as this file's

struct keystream {
    uint64_t tag;
    size_t used;
    unsigned char bytes[AHEAD];
};

typedef int (*cipher_function)(EVP_CIPHER_CTX *, unsigned char *, const unsigned char *, unsigned int);
typedef void (*free_function)(EVP_CIPHER_CTX *);

static cipher_function openssl_cipher;
static free_function openssl_free;
static int enabled;

__attribute__((constructor)) static void resolve(void) {
    openssl_cipher = (cipher_function)dlsym(RTLD_NEXT, "EVP_Cipher");
    openssl_free = (free_function)dlsym(RTLD_NEXT, "EVP_CIPHER_CTX_free");
    const char *setting = getenv("PSS_CIPHER_BATCHING");
    enabled = openssl_cipher && openssl_free && !(setting && strcmp(setting, "0") == 0);
}

int pss_keystream_batching_enabled(void) { return enabled; }

static struct keystream *keystream_of(EVP_CIPHER_CTX *ctx) {
    struct keystream *stream = EVP_CIPHER_CTX_get_app_data(ctx);
    if (stream) return stream->tag == TAG ? stream : NULL;
    if (EVP_CIPHER_CTX_get_mode(ctx) != EVP_CIPH_CTR_MODE) return NULL;
    stream = calloc(1, sizeof *stream);
    if (!stream) return NULL;
    stream->tag = TAG;
    stream->used = AHEAD;
    EVP_CIPHER_CTX_set_app_data(ctx, stream);
    return stream;
}

int EVP_Cipher(EVP_CIPHER_CTX *ctx, unsigned char *out, const unsigned char *in, unsigned int length) {
    if (!openssl_cipher) resolve();  // called before this executable's constructors ran (a library's own)
    struct keystream *stream = enabled && length == BLOCK ? keystream_of(ctx) : NULL;
    if (!stream) return openssl_cipher(ctx, out, in, length);
    if (stream->used == AHEAD) {
        static const unsigned char zeros[AHEAD];
        // Success is the byte count (provided ciphers) or 1 (an engine's); 0 and -1 are failures, said as -1,
        // which libssh2 1.10 checks for.
        if (openssl_cipher(ctx, stream->bytes, zeros, AHEAD) <= 0) return -1;
        stream->used = 0;
    }
    uint64_t data[2], key[2];
    memcpy(data, in, BLOCK);
    memcpy(key, stream->bytes + stream->used, BLOCK);
    data[0] ^= key[0];
    data[1] ^= key[1];
    memcpy(out, data, BLOCK);
    stream->used += BLOCK;
    return BLOCK;
}

void EVP_CIPHER_CTX_free(EVP_CIPHER_CTX *ctx) {
    if (!openssl_free) resolve();
    if (ctx) {
        struct keystream *stream = EVP_CIPHER_CTX_get_app_data(ctx);
        if (stream && stream->tag == TAG) {
            explicit_bzero(stream, sizeof *stream);
            free(stream);
            EVP_CIPHER_CTX_set_app_data(ctx, NULL);
        }
    }
    openssl_free(ctx);
}
