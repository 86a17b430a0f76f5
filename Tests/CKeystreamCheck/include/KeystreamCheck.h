#ifndef PSS_KEYSTREAM_CHECK_H
#define PSS_KEYSTREAM_CHECK_H
#include <stddef.h>

/// Encrypts and decrypts `bytes` (a multiple of 16) of random data the way libssh2 1.10 does (EVP_Cipher, one
/// 16-byte block a call, on contexts made with EVP_CipherInit) and compares with OpenSSL's own EVP_EncryptUpdate
/// over the whole buffer: for AES-128-CTR and AES-256-CTR (batched) and AES-128-CBC (passed through). Returns 0, or
/// 1 with `problem` saying what differed.
int pss_keystream_check(size_t bytes, char *problem, size_t problem_size);

/// 1 if the last check's CTR contexts carried a batch (the batching was engaged), else 0.
int pss_keystream_check_was_batched(void);

#endif
