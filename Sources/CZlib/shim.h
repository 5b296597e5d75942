/*
 * CZlib: zlib's inflate and deflate for gzip layers (Sources/VitroLayers/GzipSource.swift,
 * Sources/VitroCommit/GzipSink.swift).
 *
 * Loaded with dlopen when a layer is first (de)compressed, not linked, so that the
 * commands that never touch a layer (run, ps, rm, …) do not load it; the helpers below
 * call through the table `czlib_load` fills (storage in CVitroShim, as for CCurl).
 */
#include <zlib.h>

int vitro_library_load(void **table, const char *soname, const char *const *names);
const char *vitro_library_error(void);
void vitro_library_require(void **table, const char *soname, const char *const *names);
extern void *vitro_czlib_storage[12];

#define CZLIB_SONAME "libz.so.1"

typedef struct {
    void *handle;
    const char *(*version)(void);
    int (*inflate_init2)(z_streamp, int, const char *, int);
    int (*inflate)(z_streamp, int);
    int (*inflate_reset)(z_streamp);
    int (*inflate_end)(z_streamp);
    int (*deflate_init2)(z_streamp, int, int, int, int, int, const char *, int);
    int (*deflate)(z_streamp, int);
    int (*deflate_end)(z_streamp);
} czlib_api;
_Static_assert(sizeof(czlib_api) <= sizeof(void *) * 12, "czlib_api must fit its storage");

static const char *const czlib_names[] = {
    "zlibVersion", "inflateInit2_", "inflate", "inflateReset", "inflateEnd", "deflateInit2_", "deflate", "deflateEnd", 0,
};
#define czlib_table (*(czlib_api *)vitro_czlib_storage)

/* Opens zlib once; 1 when every function was found, else 0 (vitro_library_error says why). */
static inline int czlib_load(void) { return vitro_library_load(vitro_czlib_storage, CZLIB_SONAME, czlib_names); }
static inline void czlib_need(void) { vitro_library_require(vitro_czlib_storage, CZLIB_SONAME, czlib_names); }

static inline const char *czlib_zlibVersion(void) { czlib_need(); return czlib_table.version(); }
static inline int czlib_inflateInit2_(z_streamp s, int bits, const char *version, int size) { czlib_need(); return czlib_table.inflate_init2(s, bits, version, size); }
static inline int czlib_inflate(z_streamp s, int flush) { czlib_need(); return czlib_table.inflate(s, flush); }
static inline int czlib_inflateReset(z_streamp s) { czlib_need(); return czlib_table.inflate_reset(s); }
static inline int czlib_inflateEnd(z_streamp s) { czlib_need(); return czlib_table.inflate_end(s); }
static inline int czlib_deflateInit2_(z_streamp s, int level, int method, int bits, int mem, int strategy, const char *version, int size) {
    czlib_need();
    return czlib_table.deflate_init2(s, level, method, bits, mem, strategy, version, size);
}
static inline int czlib_deflate(z_streamp s, int flush) { czlib_need(); return czlib_table.deflate(s, flush); }
static inline int czlib_deflateEnd(z_streamp s) { czlib_need(); return czlib_table.deflate_end(s); }
