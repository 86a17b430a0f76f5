#ifndef PSS_CLIBSSH2_SHIM_H
#define PSS_CLIBSSH2_SHIM_H

#include <libssh2.h>
#include <libssh2_publickey.h>

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

#endif
