#ifndef PSS_CLIBSSH2_SHIM_H
#define PSS_CLIBSSH2_SHIM_H

#include <libssh2.h>
#include <libssh2_publickey.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

// libssh2 spells several entry points as function-like macros, which Swift cannot import.
// These inline functions give them names Swift can call.

static inline LIBSSH2_CHANNEL *pss_channel_open_session(LIBSSH2_SESSION *session,
                                                        unsigned int window, unsigned int packet) {
    return libssh2_channel_open_ex(session, "session", sizeof("session") - 1, window, packet, NULL, 0);
}

static inline int pss_channel_exec(LIBSSH2_CHANNEL *channel, const char *command, unsigned int length) {
    return libssh2_channel_process_startup(channel, "exec", sizeof("exec") - 1, command, length);
}

static inline int pss_session_disconnect(LIBSSH2_SESSION *session, const char *reason) {
    return libssh2_session_disconnect_ex(session, SSH_DISCONNECT_BY_APPLICATION, reason, "");
}

// Secrets. libssh2 copies passwords, keyboard-interactive answers and key material into buffers it frees with
// its session's allocator: pss gives it one that overwrites every buffer before freeing it, so no secret lingers
// in freed memory.

static inline void pss_wipe(void *pointer, size_t length) {
    explicit_bzero(pointer, length);
}

static inline void *pss_alloc(size_t size, void **abstract) {
    (void)abstract;
    return malloc(size);
}

static inline void pss_free(void *pointer, void **abstract) {
    (void)abstract;
    if (pointer == NULL) return;
    explicit_bzero(pointer, malloc_usable_size(pointer));
    free(pointer);
}

// Never realloc in place: the old block would be freed by malloc without being wiped.
static inline void *pss_realloc(void *pointer, size_t size, void **abstract) {
    if (pointer == NULL) return malloc(size);
    size_t old = malloc_usable_size(pointer);
    void *moved = malloc(size);
    if (moved == NULL) return NULL;
    memcpy(moved, pointer, old < size ? old : size);
    pss_free(pointer, abstract);
    return moved;
}

static inline LIBSSH2_SESSION *pss_session_init(void *abstract) {
    return libssh2_session_init_ex(pss_alloc, pss_free, pss_realloc, abstract);
}

// A process holding passwords and session keys writes no core file, and other processes of the user cannot
// ptrace it (PR_SET_DUMPABLE 0 covers core_pattern pipes too, which ignore RLIMIT_CORE).
static inline void pss_disable_core_dumps(void) {
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

#endif
