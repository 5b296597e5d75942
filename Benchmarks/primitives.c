/*
 * primitives: the kernel calls of a container's network, rootfs and cgroup stages,
 * each timed on its own in C, for the breakdown of the start-up benchmark
 * (Benchmarks/run), which sets them beside the same steps in vitro's trace.
 *
 *   netns       unshare(CLONE_NEWNET): a new network namespace (kept by an fd)
 *   veth        one RTM_NEWLINK: the veth pair, its host end enslaved to BRIDGE and up,
 *               its peer made directly inside the new namespace as eth0
 *               (IFLA_NET_NS_FD), answered by one ACK
 *   addr_route  inside the namespace: lo up, eth0's address, eth0 up, the default
 *               route (four requests, each waiting for its ACK, as vitro does)
 *   nft_add     one nf_tables batch: a DNAT rule appended to `ip vitro ports`, echoed
 *               back with its handle (skipped when vitro's table is not there)
 *   nft_del     one batch deleting it by handle
 *   nft_close   closing that netfilter socket: the kernel first finishes freeing the
 *               deleted rule, an RCU grace period
 *   overlay     mount -t overlay (the rootfs as lowerdir, an empty upper and work dir)
 *               in a mount namespace of its own, then umount2
 *   cgroup_mkdir / cgroup_rmdir   one directory in every cgroup hierarchy mounted
 *               under /sys/fs/cgroup (v1: one each; v2: one)
 *
 * Usage: primitives BRIDGE LOWERDIR SCRATCH    (run inside the benchmark's netns)
 *        FLOOR_TIMES=FILE appends "NAME START_NS DUR_NS" lines, as floor.c does;
 *        without it the lines go to stdout.
 * Build: gcc -O2 -o primitives primitives.c
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_link.h>
#include <linux/veth.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>

static int times_fd = 1;

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void record(const char *name, long long t0) { dprintf(times_fd, "%s %lld %lld\n", name, t0, now_ns() - t0); }

static void die(const char *what) {
    fprintf(stderr, "primitives: %s: %s\n", what, strerror(errno));
    exit(125);
}

/* ---- a netlink message builder ---- */

struct msg { char buf[1024]; size_t len; size_t nest[8]; int depth; };

static void msg_init(struct msg *m, uint16_t type, uint16_t flags, uint32_t seq, const void *hdr, size_t hlen) {
    memset(m, 0, sizeof *m);
    struct nlmsghdr *h = (struct nlmsghdr *)m->buf;
    h->nlmsg_type = type;
    h->nlmsg_flags = flags;
    h->nlmsg_seq = seq;
    memcpy(m->buf + NLMSG_HDRLEN, hdr, hlen);
    m->len = NLMSG_HDRLEN + NLMSG_ALIGN(hlen);
}

static void attr(struct msg *m, uint16_t type, const void *data, size_t n) {
    struct nlattr *a = (struct nlattr *)(m->buf + m->len);
    a->nla_type = type;
    a->nla_len = NLA_HDRLEN + n;
    memcpy((char *)a + NLA_HDRLEN, data, n);
    m->len += NLA_ALIGN(a->nla_len);
}
static void attr_str(struct msg *m, uint16_t type, const char *s) { attr(m, type, s, strlen(s) + 1); }
static void attr_u32(struct msg *m, uint16_t type, uint32_t v) { attr(m, type, &v, 4); }
static void attr_be32(struct msg *m, uint16_t type, uint32_t v) { v = htonl(v); attr(m, type, &v, 4); }
static void begin(struct msg *m, uint16_t type) {
    m->nest[m->depth++] = m->len;
    attr(m, type | NLA_F_NESTED, NULL, 0);
}
static void end(struct msg *m) {
    struct nlattr *a = (struct nlattr *)(m->buf + m->nest[--m->depth]);
    a->nla_len = m->len - m->nest[m->depth];
}
static void *finish(struct msg *m) {
    ((struct nlmsghdr *)m->buf)->nlmsg_len = m->len;
    return m->buf;
}

static int nl_socket(int proto) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, proto);
    if (fd < 0) die("socket AF_NETLINK");
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("bind AF_NETLINK");
    return fd;
}

/* Sends one request and waits for its ACK (or error). */
static int nl_request(int fd, struct msg *m, const char *what) {
    struct sockaddr_nl k = {.nl_family = AF_NETLINK};
    if (sendto(fd, finish(m), m->len, 0, (struct sockaddr *)&k, sizeof k) < 0) die(what);
    char buf[8192];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0) die(what);
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type == NLMSG_ERROR) {
                int e = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
                if (e) { errno = -e; die(what); }
                return 0;
            }
        }
    }
}

static void link_up(int fd, int index, uint32_t seq) {
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = index, .ifi_flags = IFF_UP, .ifi_change = IFF_UP};
    struct msg m;
    msg_init(&m, RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq, &ifi, sizeof ifi);
    nl_request(fd, &m, "RTM_NEWLINK up");
}

/* ---- nf_tables ---- */

static void expr_begin(struct msg *m, const char *name) {
    begin(m, NFTA_LIST_ELEM);
    attr_str(m, NFTA_EXPR_NAME, name);
    begin(m, NFTA_EXPR_DATA);
}
static void expr_end(struct msg *m) { end(m); end(m); }
static void data(struct msg *m, uint16_t type, const void *v, size_t n) {
    begin(m, type);
    attr(m, NFTA_DATA_VALUE, v, n);
    end(m);
}

/* BEGIN, the command, END, in one sendmsg; reads every answer without waiting (the
 * kernel handles a batch inside sendmsg). Returns the echoed rule's handle, or 0. */
static uint64_t nft_batch(int fd, struct msg *cmd, uint32_t seq, int *err) {
    struct nfgenmsg g = {.nfgen_family = AF_UNSPEC, .version = NFNETLINK_V0, .res_id = htons(NFNL_SUBSYS_NFTABLES)};
    struct msg b, e;
    msg_init(&b, NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, seq, &g, sizeof g);
    msg_init(&e, NFNL_MSG_BATCH_END, NLM_F_REQUEST, seq + 2, &g, sizeof g);
    char out[4096];
    size_t n = 0;
    memcpy(out + n, finish(&b), b.len); n += b.len;
    memcpy(out + n, finish(cmd), cmd->len); n += cmd->len;
    memcpy(out + n, finish(&e), e.len); n += e.len;
    struct sockaddr_nl k = {.nl_family = AF_NETLINK};
    if (sendto(fd, out, n, 0, (struct sockaddr *)&k, sizeof k) < 0) die("sendto nf_tables batch");
    uint64_t handle = 0;
    *err = 0;
    char buf[8192];
    for (;;) {
        ssize_t got = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (got < 0) break;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, got); h = NLMSG_NEXT(h, got)) {
            if (h->nlmsg_type == NLMSG_ERROR) {
                int x = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
                if (x && !*err) *err = -x;
            } else if (h->nlmsg_type == ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE)) {
                int len = h->nlmsg_len - NLMSG_LENGTH(sizeof(struct nfgenmsg));
                struct nlattr *a = (struct nlattr *)((char *)NLMSG_DATA(h) + NLMSG_ALIGN(sizeof(struct nfgenmsg)));
                for (; len >= (int)NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && a->nla_len <= len;
                     len -= NLA_ALIGN(a->nla_len), a = (struct nlattr *)((char *)a + NLA_ALIGN(a->nla_len))) {
                    if ((a->nla_type & NLA_TYPE_MASK) == NFTA_RULE_HANDLE) {
                        uint64_t v;
                        memcpy(&v, (char *)a + NLA_HDRLEN, 8);
                        handle = be64toh(v);
                    }
                }
            }
        }
    }
    return handle;
}

static void nft_rule_msg(struct msg *m, uint32_t seq, uint32_t addr_be) {
    struct nfgenmsg g = {.nfgen_family = NFPROTO_IPV4, .version = NFNETLINK_V0};
    msg_init(m, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE,
             NLM_F_REQUEST | NLM_F_ACK | NLM_F_ECHO | NLM_F_CREATE | NLM_F_APPEND, seq, &g, sizeof g);
    attr_str(m, NFTA_RULE_TABLE, "vitro");
    attr_str(m, NFTA_RULE_CHAIN, "ports");
    begin(m, NFTA_RULE_EXPRESSIONS);
    expr_begin(m, "meta");
    attr_be32(m, NFTA_META_DREG, NFT_REG_1);
    attr_be32(m, NFTA_META_KEY, NFT_META_L4PROTO);
    expr_end(m);
    uint8_t tcp = 6;
    expr_begin(m, "cmp");
    attr_be32(m, NFTA_CMP_SREG, NFT_REG_1);
    attr_be32(m, NFTA_CMP_OP, NFT_CMP_EQ);
    data(m, NFTA_CMP_DATA, &tcp, 1);
    expr_end(m);
    expr_begin(m, "payload");
    attr_be32(m, NFTA_PAYLOAD_DREG, NFT_REG_1);
    attr_be32(m, NFTA_PAYLOAD_BASE, NFT_PAYLOAD_TRANSPORT_HEADER);
    attr_be32(m, NFTA_PAYLOAD_OFFSET, 2);
    attr_be32(m, NFTA_PAYLOAD_LEN, 2);
    expr_end(m);
    uint16_t dport = htons(18080), port = htons(80);
    expr_begin(m, "cmp");
    attr_be32(m, NFTA_CMP_SREG, NFT_REG_1);
    attr_be32(m, NFTA_CMP_OP, NFT_CMP_EQ);
    data(m, NFTA_CMP_DATA, &dport, 2);
    expr_end(m);
    expr_begin(m, "immediate");
    attr_be32(m, NFTA_IMMEDIATE_DREG, NFT_REG_1);
    data(m, NFTA_IMMEDIATE_DATA, &addr_be, 4);
    expr_end(m);
    expr_begin(m, "immediate");
    attr_be32(m, NFTA_IMMEDIATE_DREG, NFT_REG_2);
    data(m, NFTA_IMMEDIATE_DATA, &port, 2);
    expr_end(m);
    expr_begin(m, "nat");
    attr_be32(m, NFTA_NAT_TYPE, NFT_NAT_DNAT);
    attr_be32(m, NFTA_NAT_FAMILY, NFPROTO_IPV4);
    attr_be32(m, NFTA_NAT_REG_ADDR_MIN, NFT_REG_1);
    attr_be32(m, NFTA_NAT_REG_PROTO_MIN, NFT_REG_2);
    attr_be32(m, NFTA_NAT_FLAGS, 2 /* NF_NAT_RANGE_PROTO_SPECIFIED */);
    expr_end(m);
    end(m);
    char ud[] = "\0\x14vitro:primitives-c";
    attr(m, NFTA_RULE_USERDATA, ud, 2 + 20);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: primitives BRIDGE LOWERDIR SCRATCH\n");
        return 2;
    }
    const char *bridge = argv[1], *lower = argv[2], *scratch = argv[3];
    const char *times = getenv("FLOOR_TIMES");
    if (times && *times) {
        times_fd = open(times, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (times_fd < 0) die(times);
    }
    unsigned bridge_index = if_nametoindex(bridge);
    if (!bridge_index) die(bridge);
    int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (home < 0) die("open /proc/thread-self/ns/net");
    uint32_t seq = 1;

    /* netns */
    long long t = now_ns();
    if (unshare(CLONE_NEWNET) < 0) die("unshare CLONE_NEWNET");
    record("netns", t);
    int target = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (target < 0 || setns(home, CLONE_NEWNET) < 0) die("setns back");

    /* veth: one RTM_NEWLINK, the peer inside the new namespace */
    int rt = nl_socket(NETLINK_ROUTE);
    char veth[IFNAMSIZ];
    snprintf(veth, sizeof veth, "vp%d", (int)getpid());
    struct ifinfomsg up = {.ifi_family = AF_UNSPEC, .ifi_flags = IFF_UP, .ifi_change = IFF_UP}, plain = {0};
    struct msg m;
    msg_init(&m, RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq++, &up, sizeof up);
    attr_str(&m, IFLA_IFNAME, veth);
    attr_u32(&m, IFLA_MTU, 1500);
    attr_u32(&m, IFLA_MASTER, bridge_index);
    begin(&m, IFLA_LINKINFO);
    attr_str(&m, IFLA_INFO_KIND, "veth");
    begin(&m, IFLA_INFO_DATA);
    begin(&m, VETH_INFO_PEER);
    memcpy(m.buf + m.len, &plain, sizeof plain);
    m.len += NLMSG_ALIGN(sizeof plain);
    attr_str(&m, IFLA_IFNAME, "eth0");
    attr_u32(&m, IFLA_MTU, 1500);
    attr_u32(&m, IFLA_NET_NS_FD, target);
    end(&m);
    end(&m);
    end(&m);
    t = now_ns();
    nl_request(rt, &m, "RTM_NEWLINK veth");
    record("veth", t);

    /* addr_route: inside the namespace, four requests */
    t = now_ns();
    if (setns(target, CLONE_NEWNET) < 0) die("setns target");
    int in = nl_socket(NETLINK_ROUTE);
    unsigned eth0 = if_nametoindex("eth0");
    if (setns(home, CLONE_NEWNET) < 0) die("setns home");
    if (!eth0) die("eth0");
    link_up(in, 1, seq++);
    struct ifaddrmsg ifa = {.ifa_family = AF_INET, .ifa_prefixlen = 24, .ifa_index = eth0};
    msg_init(&m, RTM_NEWADDR, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq++, &ifa, sizeof ifa);
    uint32_t addr = inet_addr("10.250.0.250"), gw = inet_addr("10.250.0.1"), bcast = inet_addr("10.250.0.255");
    attr(&m, IFA_LOCAL, &addr, 4);
    attr(&m, IFA_ADDRESS, &addr, 4);
    attr(&m, IFA_BROADCAST, &bcast, 4);
    nl_request(in, &m, "RTM_NEWADDR");
    link_up(in, eth0, seq++);
    struct rtmsg rtm = {.rtm_family = AF_INET, .rtm_table = RT_TABLE_MAIN, .rtm_protocol = RTPROT_BOOT,
                        .rtm_scope = RT_SCOPE_UNIVERSE, .rtm_type = RTN_UNICAST};
    msg_init(&m, RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq++, &rtm, sizeof rtm);
    attr(&m, RTA_GATEWAY, &gw, 4);
    attr_u32(&m, RTA_OIF, eth0);
    nl_request(in, &m, "RTM_NEWROUTE");
    record("addr_route", t);
    close(in);
    close(rt);

    /* nft: add, delete, close */
    int nf = nl_socket(NETLINK_NETFILTER);
    int err = 0;
    nft_rule_msg(&m, seq + 1, addr);
    t = now_ns();
    uint64_t handle = nft_batch(nf, &m, seq, &err);
    if (err == 0 && handle) {
        record("nft_add", t);
        seq += 3;
        struct nfgenmsg g = {.nfgen_family = NFPROTO_IPV4, .version = NFNETLINK_V0};
        msg_init(&m, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_DELRULE, NLM_F_REQUEST | NLM_F_ACK, seq + 1, &g, sizeof g);
        attr_str(&m, NFTA_RULE_TABLE, "vitro");
        attr_str(&m, NFTA_RULE_CHAIN, "ports");
        uint64_t h = htobe64(handle);
        attr(&m, NFTA_RULE_HANDLE, &h, 8);
        t = now_ns();
        nft_batch(nf, &m, seq, &err);
        if (err) { errno = err; die("nft delete rule"); }
        record("nft_del", t);
        t = now_ns();
        close(nf);
        record("nft_close", t);
    } else {
        fprintf(stderr, "primitives: no nft: table ip vitro or its ports chain is not here (%s)\n", strerror(err));
        close(nf);
    }
    close(target); /* the namespace goes, and the veth with it */

    /* overlay, in a mount namespace of its own */
    if (unshare(CLONE_NEWNS) < 0) die("unshare CLONE_NEWNS");
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) die("mount --make-rprivate /");
    char upper[512], work[512], merged[512], opts[2048];
    snprintf(upper, sizeof upper, "%s/upper", scratch);
    snprintf(work, sizeof work, "%s/work", scratch);
    snprintf(merged, sizeof merged, "%s/merged", scratch);
    mkdir(scratch, 0700);
    mkdir(upper, 0755);
    mkdir(work, 0700);
    mkdir(merged, 0755);
    snprintf(opts, sizeof opts, "lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work);
    t = now_ns();
    if (mount("overlay", merged, "overlay", 0, opts) < 0) die("mount overlay");
    record("overlay", t);
    t = now_ns();
    if (umount2(merged, MNT_DETACH) < 0) die("umount2 overlay");
    record("overlay_umount", t);

    /* cgroup mkdirs: one per hierarchy mounted under /sys/fs/cgroup */
    char dirs[32][600];
    int nd = 0;
    DIR *d = opendir("/sys/fs/cgroup");
    struct statfs sf;
    if (d && statfs("/sys/fs/cgroup", &sf) == 0 && sf.f_type == 0x63677270 /* CGROUP2 */) {
        snprintf(dirs[nd++], 600, "/sys/fs/cgroup/vitro-bench-prim-%d", (int)getpid());
    } else if (d) {
        struct dirent *e;
        while ((e = readdir(d)) && nd < 32) {
            char p[512];
            struct stat st;
            if (e->d_name[0] == '.') continue;
            snprintf(p, sizeof p, "/sys/fs/cgroup/%s", e->d_name);
            if (lstat(p, &st) < 0 || !S_ISDIR(st.st_mode) || statfs(p, &sf) < 0) continue;
            if (sf.f_type != 0x27e0eb /* CGROUP */ && sf.f_type != 0x63677270) continue;
            snprintf(dirs[nd++], 600, "%s/vitro-bench-prim-%d", p, (int)getpid());
        }
    }
    if (d) closedir(d);
    t = now_ns();
    for (int i = 0; i < nd; i++)
        if (mkdir(dirs[i], 0755) < 0) die(dirs[i]);
    record("cgroup_mkdir", t);
    t = now_ns();
    for (int i = 0; i < nd; i++)
        if (rmdir(dirs[i]) < 0) die(dirs[i]);
    record("cgroup_rmdir", t);
    return 0;
}
