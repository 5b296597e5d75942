/*
 * CCurl: libcurl for the registry client (Sources/VitroImage/HTTPClient.swift).
 *
 * Why libcurl is loaded with dlopen. Linking it would make every vitro process —
 * every container start — load libcurl and the thirty libraries it needs (TLS,
 * Kerberos, LDAP, …), several milliseconds before main. Only a pull needs it, so
 * `ccurl_load` opens libcurl.so.4 the first time a registry is contacted and the
 * functions below call through the table it fills.
 *
 * Why the inline helpers. curl_easy_setopt, curl_easy_getinfo and curl_multi_setopt
 * are variadic C functions, which Swift cannot call; each helper fixes one argument
 * type so Swift can.
 *
 * Every helper makes sure the table is loaded (a cheap test after the first call), so
 * no caller has to remember to.
 */
#include <curl/curl.h>
#include <dlfcn.h>
#include <stddef.h>

typedef struct {
    void *handle;
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    const char *(*easy_strerror)(CURLcode);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_cleanup)(CURLM *);
    CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
    CURLMcode (*multi_add_handle)(CURLM *, CURL *);
    CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
    CURLMcode (*multi_perform)(CURLM *, int *);
    CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd[], unsigned int, int, int *);
    CURLMsg *(*multi_info_read)(CURLM *, int *);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
} ccurl_api;

/* The storage lives in CVitroShim (a compiled C target, so there is exactly one copy):
 * Swift does not emit C globals declared in a system module's header. */
extern void *vitro_ccurl_storage[32];
_Static_assert(sizeof(ccurl_api) <= sizeof(void *) * 32, "ccurl_api must fit its storage");
#define ccurl_table (*(ccurl_api *)vitro_ccurl_storage)

/* Opens libcurl once; returns 1 when every function was found, 0 otherwise. */
static inline int ccurl_load(void) {
    if (ccurl_table.handle) return 1;
    void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!h) return 0;
    ccurl_api t;
    t.handle = h;
#define CCURL_SYM(field, name) if (!(*(void **)&t.field = dlsym(h, name))) return 0;
    CCURL_SYM(global_init, "curl_global_init")
    CCURL_SYM(easy_init, "curl_easy_init")
    CCURL_SYM(easy_cleanup, "curl_easy_cleanup")
    CCURL_SYM(easy_setopt, "curl_easy_setopt")
    CCURL_SYM(easy_getinfo, "curl_easy_getinfo")
    CCURL_SYM(easy_strerror, "curl_easy_strerror")
    CCURL_SYM(multi_init, "curl_multi_init")
    CCURL_SYM(multi_cleanup, "curl_multi_cleanup")
    CCURL_SYM(multi_setopt, "curl_multi_setopt")
    CCURL_SYM(multi_add_handle, "curl_multi_add_handle")
    CCURL_SYM(multi_remove_handle, "curl_multi_remove_handle")
    CCURL_SYM(multi_perform, "curl_multi_perform")
    CCURL_SYM(multi_poll, "curl_multi_poll")
    CCURL_SYM(multi_info_read, "curl_multi_info_read")
    CCURL_SYM(slist_append, "curl_slist_append")
    CCURL_SYM(slist_free_all, "curl_slist_free_all")
#undef CCURL_SYM
    t.global_init(CURL_GLOBAL_DEFAULT);
    ccurl_table = t;
    return 1;
}

static inline CURL *ccurl_easy_init(void) { ccurl_load(); return ccurl_table.easy_init(); }
static inline void ccurl_easy_cleanup(CURL *h) { ccurl_load(); ccurl_table.easy_cleanup(h); }
static inline const char *ccurl_easy_strerror(CURLcode c) { ccurl_load(); return ccurl_table.easy_strerror(c); }
static inline CURLM *ccurl_multi_init(void) { ccurl_load(); return ccurl_table.multi_init(); }
static inline CURLMcode ccurl_multi_cleanup(CURLM *m) { ccurl_load(); return ccurl_table.multi_cleanup(m); }
static inline CURLMcode ccurl_multi_add_handle(CURLM *m, CURL *h) { ccurl_load(); return ccurl_table.multi_add_handle(m, h); }
static inline CURLMcode ccurl_multi_remove_handle(CURLM *m, CURL *h) { ccurl_load(); return ccurl_table.multi_remove_handle(m, h); }
static inline CURLMcode ccurl_multi_perform(CURLM *m, int *running) { ccurl_load(); return ccurl_table.multi_perform(m, running); }
static inline CURLMcode ccurl_multi_poll(CURLM *m, struct curl_waitfd extra[], unsigned int n, int timeout, int *ret) {
    ccurl_load();
    return ccurl_table.multi_poll(m, extra, n, timeout, ret);
}
static inline CURLMsg *ccurl_multi_info_read(CURLM *m, int *left) { ccurl_load(); return ccurl_table.multi_info_read(m, left); }
static inline struct curl_slist *ccurl_slist_append(struct curl_slist *l, const char *s) { ccurl_load(); return ccurl_table.slist_append(l, s); }
static inline void ccurl_slist_free_all(struct curl_slist *l) { ccurl_load(); ccurl_table.slist_free_all(l); }

static inline CURLcode ccurl_setopt_long(CURL *h, CURLoption o, long v) { ccurl_load(); return ccurl_table.easy_setopt(h, o, v); }
static inline CURLcode ccurl_setopt_string(CURL *h, CURLoption o, const char *v) { ccurl_load(); return ccurl_table.easy_setopt(h, o, v); }
static inline CURLcode ccurl_setopt_pointer(CURL *h, CURLoption o, void *v) { ccurl_load(); return ccurl_table.easy_setopt(h, o, v); }
static inline CURLcode ccurl_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v) { ccurl_load(); return ccurl_table.easy_setopt(h, o, v); }

/* The data callbacks (CURLOPT_WRITEFUNCTION, CURLOPT_HEADERFUNCTION) share one shape. */
typedef size_t (*ccurl_data_callback)(char *data, size_t size, size_t count, void *user);
static inline CURLcode ccurl_setopt_callback(CURL *h, CURLoption o, ccurl_data_callback f) { ccurl_load(); return ccurl_table.easy_setopt(h, o, f); }

static inline CURLcode ccurl_getinfo_long(CURL *h, CURLINFO i, long *v) { ccurl_load(); return ccurl_table.easy_getinfo(h, i, v); }
static inline CURLcode ccurl_getinfo_string(CURL *h, CURLINFO i, char **v) { ccurl_load(); return ccurl_table.easy_getinfo(h, i, v); }
static inline CURLcode ccurl_getinfo_pointer(CURL *h, CURLINFO i, void **v) { ccurl_load(); return ccurl_table.easy_getinfo(h, i, v); }

static inline CURLMcode ccurl_multi_setopt_long(CURLM *m, CURLMoption o, long v) { ccurl_load(); return ccurl_table.multi_setopt(m, o, v); }
