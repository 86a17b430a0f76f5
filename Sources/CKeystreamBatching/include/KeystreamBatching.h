#ifndef PSS_KEYSTREAM_BATCHING_H
#define PSS_KEYSTREAM_BATCHING_H

/// 1 when AES-CTR keystream is generated in batches for libssh2 (see KeystreamBatching.c), 0 when it is off
/// (PSS_CIPHER_BATCHING=0 in the environment).
int pss_keystream_batching_enabled(void);

#endif
