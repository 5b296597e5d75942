/*
 * CSeccomp: libseccomp, which compiles a seccomp profile to BPF
 * (Sources/VitroExec/SeccompFilter.swift).
 *
 * Loaded with dlopen, not linked: VitroExec is also vitro-init's module, and vitro-init
 * never calls libseccomp (it loads the program vitro compiled), so a link would cost
 * every container start a library load for nothing. vitro opens libseccomp.so.2 when
 * it first compiles a filter or names the cache entry of one; the helpers below call
 * through the table `cseccomp_load` fills (storage in CVitroShim, as for CCurl).
 */
#include <seccomp.h>

int vitro_library_load(void **table, const char *soname, const char *const *names);
const char *vitro_library_error(void);
void vitro_library_require(void **table, const char *soname, const char *const *names);
extern void *vitro_cseccomp_storage[16];

#define CSECCOMP_SONAME "libseccomp.so.2"

typedef struct {
    void *handle;
    const struct scmp_version *(*version)(void);
    scmp_filter_ctx (*init)(uint32_t);
    void (*release)(scmp_filter_ctx);
    int (*attr_set)(scmp_filter_ctx, enum scmp_filter_attr, uint32_t);
    uint32_t (*arch_resolve_name)(const char *);
    int (*arch_add)(scmp_filter_ctx, uint32_t);
    int (*syscall_resolve_name)(const char *);
    int (*rule_add_array)(scmp_filter_ctx, uint32_t, int, unsigned int, const struct scmp_arg_cmp *);
    int (*export_bpf)(const scmp_filter_ctx, int);
} cseccomp_api;
_Static_assert(sizeof(cseccomp_api) <= sizeof(void *) * 16, "cseccomp_api must fit its storage");

static const char *const cseccomp_names[] = {
    "seccomp_version", "seccomp_init", "seccomp_release", "seccomp_attr_set", "seccomp_arch_resolve_name",
    "seccomp_arch_add", "seccomp_syscall_resolve_name", "seccomp_rule_add_array", "seccomp_export_bpf", 0,
};
#define cseccomp_table (*(cseccomp_api *)vitro_cseccomp_storage)

/* Opens libseccomp once; 1 when every function was found, else 0 (vitro_library_error says why). */
static inline int cseccomp_load(void) { return vitro_library_load(vitro_cseccomp_storage, CSECCOMP_SONAME, cseccomp_names); }
static inline void cseccomp_need(void) { vitro_library_require(vitro_cseccomp_storage, CSECCOMP_SONAME, cseccomp_names); }

static inline const struct scmp_version *cseccomp_version(void) { cseccomp_need(); return cseccomp_table.version(); }
static inline scmp_filter_ctx cseccomp_init(uint32_t def) { cseccomp_need(); return cseccomp_table.init(def); }
static inline void cseccomp_release(scmp_filter_ctx c) { cseccomp_need(); cseccomp_table.release(c); }
static inline int cseccomp_attr_set(scmp_filter_ctx c, enum scmp_filter_attr a, uint32_t v) { cseccomp_need(); return cseccomp_table.attr_set(c, a, v); }
static inline uint32_t cseccomp_arch_resolve_name(const char *n) { cseccomp_need(); return cseccomp_table.arch_resolve_name(n); }
static inline int cseccomp_arch_add(scmp_filter_ctx c, uint32_t t) { cseccomp_need(); return cseccomp_table.arch_add(c, t); }
static inline int cseccomp_syscall_resolve_name(const char *n) { cseccomp_need(); return cseccomp_table.syscall_resolve_name(n); }
static inline int cseccomp_rule_add_array(scmp_filter_ctx c, uint32_t action, int nr, unsigned int n, const struct scmp_arg_cmp *args) {
    cseccomp_need();
    return cseccomp_table.rule_add_array(c, action, nr, n, args);
}
static inline int cseccomp_export_bpf(const scmp_filter_ctx c, int fd) { cseccomp_need(); return cseccomp_table.export_bpf(c, fd); }
