/*
 * CZstd: zstd for zstd layers (Sources/VitroLayers/ZstdSource.swift,
 * Sources/VitroCommit/ZstdSink.swift).
 *
 * Loaded with dlopen when a layer is first (de)compressed, not linked, so that the
 * commands that never touch a layer do not load it; the helpers below call through the
 * table `czstd_load` fills (storage in CVitroShim, as for CCurl).
 */
#include <zstd.h>

int vitro_library_load(void **table, const char *soname, const char *const *names);
const char *vitro_library_error(void);
void vitro_library_require(void **table, const char *soname, const char *const *names);
extern void *vitro_czstd_storage[16];

#define CZSTD_SONAME "libzstd.so.1"

typedef struct {
    void *handle;
    ZSTD_DStream *(*create_dstream)(void);
    size_t (*init_dstream)(ZSTD_DStream *);
    size_t (*decompress_stream)(ZSTD_DStream *, ZSTD_outBuffer *, ZSTD_inBuffer *);
    size_t (*free_dstream)(ZSTD_DStream *);
    unsigned (*is_error)(size_t);
    const char *(*get_error_name)(size_t);
    ZSTD_CCtx *(*create_cctx)(void);
    size_t (*free_cctx)(ZSTD_CCtx *);
    size_t (*cstream_out_size)(void);
    size_t (*cctx_set_parameter)(ZSTD_CCtx *, ZSTD_cParameter, int);
    size_t (*compress_stream2)(ZSTD_CCtx *, ZSTD_outBuffer *, ZSTD_inBuffer *, ZSTD_EndDirective);
} czstd_api;
_Static_assert(sizeof(czstd_api) <= sizeof(void *) * 16, "czstd_api must fit its storage");

static const char *const czstd_names[] = {
    "ZSTD_createDStream", "ZSTD_initDStream", "ZSTD_decompressStream", "ZSTD_freeDStream", "ZSTD_isError",
    "ZSTD_getErrorName", "ZSTD_createCCtx", "ZSTD_freeCCtx", "ZSTD_CStreamOutSize", "ZSTD_CCtx_setParameter",
    "ZSTD_compressStream2", 0,
};
#define czstd_table (*(czstd_api *)vitro_czstd_storage)

/* Opens libzstd once; 1 when every function was found, else 0 (vitro_library_error says why). */
static inline int czstd_load(void) { return vitro_library_load(vitro_czstd_storage, CZSTD_SONAME, czstd_names); }
static inline void czstd_need(void) { vitro_library_require(vitro_czstd_storage, CZSTD_SONAME, czstd_names); }

static inline ZSTD_DStream *czstd_ZSTD_createDStream(void) { czstd_need(); return czstd_table.create_dstream(); }
static inline size_t czstd_ZSTD_initDStream(ZSTD_DStream *s) { czstd_need(); return czstd_table.init_dstream(s); }
static inline size_t czstd_ZSTD_decompressStream(ZSTD_DStream *s, ZSTD_outBuffer *o, ZSTD_inBuffer *i) { czstd_need(); return czstd_table.decompress_stream(s, o, i); }
static inline size_t czstd_ZSTD_freeDStream(ZSTD_DStream *s) { czstd_need(); return czstd_table.free_dstream(s); }
static inline unsigned czstd_ZSTD_isError(size_t r) { czstd_need(); return czstd_table.is_error(r); }
static inline const char *czstd_ZSTD_getErrorName(size_t r) { czstd_need(); return czstd_table.get_error_name(r); }
static inline ZSTD_CCtx *czstd_ZSTD_createCCtx(void) { czstd_need(); return czstd_table.create_cctx(); }
static inline size_t czstd_ZSTD_freeCCtx(ZSTD_CCtx *c) { czstd_need(); return czstd_table.free_cctx(c); }
static inline size_t czstd_ZSTD_CStreamOutSize(void) { czstd_need(); return czstd_table.cstream_out_size(); }
static inline size_t czstd_ZSTD_CCtx_setParameter(ZSTD_CCtx *c, ZSTD_cParameter p, int v) { czstd_need(); return czstd_table.cctx_set_parameter(c, p, v); }
static inline size_t czstd_ZSTD_compressStream2(ZSTD_CCtx *c, ZSTD_outBuffer *o, ZSTD_inBuffer *i, ZSTD_EndDirective e) {
    czstd_need();
    return czstd_table.compress_stream2(c, o, i, e);
}
