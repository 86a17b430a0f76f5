#include <zlib.h>

// deflateInit2 is a macro, which Swift cannot call: gzip framing (windowBits 15 + 16), as `gzip -dc` reads it.
static inline int pss_gzip_init(z_streamp stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}
