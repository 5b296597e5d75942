/*
 * CPcap: libpcap for packet-path capture (Sources/VitroCapture/PacketCapture.swift).
 *
 * Why libpcap is loaded with dlopen. Linking it would make every vitro process load
 * libpcap and what it needs (libdbus, libsystemd, libgcrypt, liblz4, liblzma, libcap,
 * …), about a millisecond before main on every `vitro` command. Only `--packet-trace`
 * and `trace net` capture, so `cpcap_load` opens libpcap.so.0.8 then, and the
 * `cpcap_*` helpers below call through the table it fills (the table's storage is in
 * CVitroShim, as for CCurl). The types and constants are libpcap's own header's.
 */
#include <pcap/pcap.h>

int vitro_library_load(void **table, const char *soname, const char *const *names);
const char *vitro_library_error(void);
void vitro_library_require(void **table, const char *soname, const char *const *names);
extern void *vitro_cpcap_storage[24];

#define CPCAP_SONAME "libpcap.so.0.8"

typedef struct {
    void *handle;
    pcap_t *(*create)(const char *, char *);
    int (*activate)(pcap_t *);
    void (*close)(pcap_t *);
    int (*set_snaplen)(pcap_t *, int);
    int (*set_promisc)(pcap_t *, int);
    int (*set_immediate_mode)(pcap_t *, int);
    int (*set_tstamp_precision)(pcap_t *, int);
    char *(*geterr)(pcap_t *);
    int (*datalink)(pcap_t *);
    int (*setdirection)(pcap_t *, pcap_direction_t);
    int (*compile)(pcap_t *, struct bpf_program *, const char *, int, bpf_u_int32);
    int (*setfilter)(pcap_t *, struct bpf_program *);
    void (*freecode)(struct bpf_program *);
    int (*setnonblock)(pcap_t *, int, char *);
    int (*get_selectable_fd)(pcap_t *);
    int (*next_ex)(pcap_t *, struct pcap_pkthdr **, const u_char **);
    const char *(*lib_version)(void);
} cpcap_api;
_Static_assert(sizeof(cpcap_api) <= sizeof(void *) * 24, "cpcap_api must fit its storage");

static const char *const cpcap_names[] = {
    "pcap_create", "pcap_activate", "pcap_close", "pcap_set_snaplen", "pcap_set_promisc",
    "pcap_set_immediate_mode", "pcap_set_tstamp_precision", "pcap_geterr", "pcap_datalink",
    "pcap_setdirection", "pcap_compile", "pcap_setfilter", "pcap_freecode", "pcap_setnonblock",
    "pcap_get_selectable_fd", "pcap_next_ex", "pcap_lib_version", 0,
};
#define cpcap_table (*(cpcap_api *)vitro_cpcap_storage)

/* Opens libpcap once; 1 when every function was found, else 0 (vitro_library_error says why). */
static inline int cpcap_load(void) { return vitro_library_load(vitro_cpcap_storage, CPCAP_SONAME, cpcap_names); }
static inline void cpcap_need(void) { vitro_library_require(vitro_cpcap_storage, CPCAP_SONAME, cpcap_names); }

static inline pcap_t *cpcap_create(const char *dev, char *err) { cpcap_need(); return cpcap_table.create(dev, err); }
static inline int cpcap_activate(pcap_t *p) { cpcap_need(); return cpcap_table.activate(p); }
static inline void cpcap_close(pcap_t *p) { cpcap_need(); cpcap_table.close(p); }
static inline int cpcap_set_snaplen(pcap_t *p, int v) { cpcap_need(); return cpcap_table.set_snaplen(p, v); }
static inline int cpcap_set_promisc(pcap_t *p, int v) { cpcap_need(); return cpcap_table.set_promisc(p, v); }
static inline int cpcap_set_immediate_mode(pcap_t *p, int v) { cpcap_need(); return cpcap_table.set_immediate_mode(p, v); }
static inline int cpcap_set_tstamp_precision(pcap_t *p, int v) { cpcap_need(); return cpcap_table.set_tstamp_precision(p, v); }
static inline char *cpcap_geterr(pcap_t *p) { cpcap_need(); return cpcap_table.geterr(p); }
static inline int cpcap_datalink(pcap_t *p) { cpcap_need(); return cpcap_table.datalink(p); }
static inline int cpcap_setdirection(pcap_t *p, pcap_direction_t d) { cpcap_need(); return cpcap_table.setdirection(p, d); }
static inline int cpcap_compile(pcap_t *p, struct bpf_program *f, const char *s, int optimize, bpf_u_int32 mask) {
    cpcap_need();
    return cpcap_table.compile(p, f, s, optimize, mask);
}
static inline int cpcap_setfilter(pcap_t *p, struct bpf_program *f) { cpcap_need(); return cpcap_table.setfilter(p, f); }
static inline void cpcap_freecode(struct bpf_program *f) { cpcap_need(); cpcap_table.freecode(f); }
static inline int cpcap_setnonblock(pcap_t *p, int v, char *err) { cpcap_need(); return cpcap_table.setnonblock(p, v, err); }
static inline int cpcap_get_selectable_fd(pcap_t *p) { cpcap_need(); return cpcap_table.get_selectable_fd(p); }
static inline int cpcap_next_ex(pcap_t *p, struct pcap_pkthdr **h, const u_char **d) { cpcap_need(); return cpcap_table.next_ex(p, h, d); }
static inline const char *cpcap_lib_version(void) { cpcap_need(); return cpcap_table.lib_version(); }
