/*
 * CCrypto: OpenSSL's SHA-256 for streamed blobs (Sources/VitroImage/Digest.swift).
 *
 * Why libcrypto is loaded with dlopen. Linking it costs every vitro process about a
 * millisecond before main (a 4 MB library and its relocations), and most commands hash
 * nothing big: a run reads an image it already has. `ccrypto_load` opens libcrypto.so.3
 * the first time a stream is hashed, and the helpers below call through the table it
 * fills (storage in CVitroShim, as for CCurl).
 */
#include <openssl/evp.h>

int vitro_library_load(void **table, const char *soname, const char *const *names);
const char *vitro_library_error(void);
void vitro_library_require(void **table, const char *soname, const char *const *names);
extern void *vitro_ccrypto_storage[8];

#define CCRYPTO_SONAME "libcrypto.so.3"

typedef struct {
    void *handle;
    EVP_MD_CTX *(*md_ctx_new)(void);
    void (*md_ctx_free)(EVP_MD_CTX *);
    const EVP_MD *(*sha256)(void);
    int (*digest_init_ex)(EVP_MD_CTX *, const EVP_MD *, ENGINE *);
    int (*digest_update)(EVP_MD_CTX *, const void *, size_t);
    int (*digest_final_ex)(EVP_MD_CTX *, unsigned char *, unsigned int *);
} ccrypto_api;
_Static_assert(sizeof(ccrypto_api) <= sizeof(void *) * 8, "ccrypto_api must fit its storage");

static const char *const ccrypto_names[] = {
    "EVP_MD_CTX_new", "EVP_MD_CTX_free", "EVP_sha256", "EVP_DigestInit_ex", "EVP_DigestUpdate", "EVP_DigestFinal_ex", 0,
};
#define ccrypto_table (*(ccrypto_api *)vitro_ccrypto_storage)

/* Opens libcrypto once; 1 when every function was found, else 0 (vitro_library_error says why). */
static inline int ccrypto_load(void) { return vitro_library_load(vitro_ccrypto_storage, CCRYPTO_SONAME, ccrypto_names); }
static inline void ccrypto_need(void) { vitro_library_require(vitro_ccrypto_storage, CCRYPTO_SONAME, ccrypto_names); }

static inline EVP_MD_CTX *ccrypto_EVP_MD_CTX_new(void) { ccrypto_need(); return ccrypto_table.md_ctx_new(); }
static inline void ccrypto_EVP_MD_CTX_free(EVP_MD_CTX *c) { ccrypto_need(); ccrypto_table.md_ctx_free(c); }
static inline const EVP_MD *ccrypto_EVP_sha256(void) { ccrypto_need(); return ccrypto_table.sha256(); }
static inline int ccrypto_EVP_DigestInit_ex(EVP_MD_CTX *c, const EVP_MD *t, ENGINE *e) { ccrypto_need(); return ccrypto_table.digest_init_ex(c, t, e); }
static inline int ccrypto_EVP_DigestUpdate(EVP_MD_CTX *c, const void *d, size_t n) { ccrypto_need(); return ccrypto_table.digest_update(c, d, n); }
static inline int ccrypto_EVP_DigestFinal_ex(EVP_MD_CTX *c, unsigned char *md, unsigned int *n) { ccrypto_need(); return ccrypto_table.digest_final_ex(c, md, n); }
