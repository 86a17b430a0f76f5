#include "KeystreamCheck.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int batched;

int pss_keystream_check_was_batched(void) { return batched; }

/// What OpenSSL itself makes of `in`, in one call.
static void reference(const EVP_CIPHER *cipher, const unsigned char *key, const unsigned char *iv,
                      const unsigned char *in, unsigned char *out, size_t bytes) {
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int length = 0;
    EVP_EncryptInit_ex(ctx, cipher, NULL, key, iv);
    EVP_CIPHER_CTX_set_padding(ctx, 0);
    EVP_EncryptUpdate(ctx, out, &length, in, (int)bytes);
    EVP_CIPHER_CTX_free(ctx);
}

/// As libssh2 1.10's _libssh2_cipher_crypt: one block a call, into a scratch block, copied back.
static int blockwise(EVP_CIPHER_CTX *ctx, unsigned char *data, size_t bytes) {
    unsigned char scratch[16];
    for (size_t offset = 0; offset < bytes; offset += 16) {
        if (EVP_Cipher(ctx, scratch, data + offset, 16) == -1) return 0;
        memcpy(data + offset, scratch, 16);
    }
    return 1;
}

static int check(const char *name, const EVP_CIPHER *cipher, int expect_batched, size_t bytes,
                 char *problem, size_t problem_size) {
    unsigned char key[32], iv[16];
    unsigned char *plain = malloc(bytes), *expected = malloc(bytes), *data = malloc(bytes), *other = malloc(bytes);
    RAND_bytes(key, sizeof key);
    RAND_bytes(iv, sizeof iv);
    RAND_bytes(plain, (int)bytes);
    reference(cipher, key, iv, plain, expected, bytes);

    // Two contexts in turns, as a connection's two directions: each must keep its own stream.
    EVP_CIPHER_CTX *encrypting = EVP_CIPHER_CTX_new(), *second = EVP_CIPHER_CTX_new();
    EVP_CipherInit(encrypting, cipher, key, iv, 1);
    EVP_CipherInit(second, cipher, key, iv, 1);
    memcpy(data, plain, bytes);
    memcpy(other, plain, bytes);
    int ok = 1;
    for (size_t offset = 0; ok && offset < bytes; offset += 4096 + 16) {
        size_t run = bytes - offset < 4096 + 16 ? bytes - offset : 4096 + 16;
        ok = blockwise(encrypting, data + offset, run) && blockwise(second, other + offset, run);
    }
    int result = 0;
    if (!ok || memcmp(data, expected, bytes) != 0 || memcmp(other, expected, bytes) != 0) {
        snprintf(problem, problem_size, "%s: block-at-a-time encryption differs from OpenSSL's", name);
        result = 1;
    }
    if (expect_batched && !EVP_CIPHER_CTX_get_app_data(encrypting)) batched = 0;
    if (!expect_batched && EVP_CIPHER_CTX_get_app_data(encrypting)) {
        snprintf(problem, problem_size, "%s: batched, but only CTR may be", name);
        result = 1;
    }
    EVP_CIPHER_CTX_free(encrypting);
    EVP_CIPHER_CTX_free(second);

    // And back (CTR only: libssh2 decrypts CBC the same way, but the reference here is the encryption).
    if (result == 0 && EVP_CIPHER_get_mode(cipher) == EVP_CIPH_CTR_MODE) {
        EVP_CIPHER_CTX *decrypting = EVP_CIPHER_CTX_new();
        EVP_CipherInit(decrypting, cipher, key, iv, 0);
        if (!blockwise(decrypting, data, bytes) || memcmp(data, plain, bytes) != 0) {
            snprintf(problem, problem_size, "%s: block-at-a-time decryption does not give the plaintext back", name);
            result = 1;
        }
        EVP_CIPHER_CTX_free(decrypting);
    }
    free(plain); free(expected); free(data); free(other);
    return result;
}

int pss_keystream_check(size_t bytes, char *problem, size_t problem_size) {
    batched = 1;
    if (check("aes128-ctr", EVP_aes_128_ctr(), 1, bytes, problem, problem_size)) return 1;
    if (check("aes256-ctr", EVP_aes_256_ctr(), 1, bytes, problem, problem_size)) return 1;
    if (check("aes128-cbc", EVP_aes_128_cbc(), 0, bytes, problem, problem_size)) return 1;
    return 0;
}
