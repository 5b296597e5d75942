// The words learn run says before each stage. Kept apart from the mechanics so a
// teacher can change the text without touching the pipeline.

import VitroRuntime
import VitroTrace

enum Lessons {
    static func before(_ stage: Stage, _ ctx: StageContext) -> [String] {
        switch stage {
        case .rootfs:
            return [
                "A container image is a directory tree plus some settings. vitro needs a directory that will become the container's / . Here it is the built-in busybox image: one static binary that is a shell and some 300 commands, made from the host's busybox-static package with no network.",
                "Nothing is isolated yet: this is just files on the host's disk.",
            ]
        case .volumes:
            return [
                "This container has mounts of its own: a directory of the host (-v /path:/in/container), a volume (a directory vitro keeps under its state root, named or anonymous), or a tmpfs. vitro makes what is missing now, on the host, and writes the mounts into the container's record, which is how it knows later that a volume is in use.",
                "pid 1 will mount them inside the new root just before pivot_root, each on a descriptor it opened inside the root, so a symlink in the image can never send a mount elsewhere; a new volume is first filled with what the image has at that path.",
            ]
        case .namespaces:
            return [
                "vitro now starts vitro-init, a small single-threaded helper, and hands it a spec on fd 3. vitro-init calls unshare(2) for new mount, UTS, IPC, pid and network namespaces, then forks: the child is pid 1 of the new pid namespace.",
                "pid 1 makes every mount private, bind-mounts the rootfs onto itself, mounts /proc, a read-only /sys and a small /dev, and calls pivot_root(2) so the rootfs becomes / and the host's files are out of reach. Then it sets the hostname. Watch each call go by, with why it is made and the command you could type instead.",
            ]
        case .cgroups where ctx.containerPid == nil:
            // v2: the cgroup comes first, and pid 1 is born in it.
            return [
                "Before any namespace exists, vitro makes the container's cgroup. Namespaces decide what the container can see; a cgroup decides how much it may use: memory, CPU time, the number of processes. On this cgroup v2 host vitro makes one directory for the container, writes the limits you gave (-m, --cpus, --pids-limit) into files there, and opens the directory: vitro-init will fork pid 1 with clone3(CLONE_INTO_CGROUP), so pid 1 is born inside and never has to move (a move takes a slow host-wide lock). Everything pid 1 starts is born there too.",
                "The host uses cgroup \(ctx.cgroupVersion ?? "v2"). Each write below names its file on this version and its counterpart on the other.",
            ]
        case .cgroups:
            return [
                "pid 1 now waits for vitro. Namespaces decide what the container can see; a cgroup decides how much it may use: memory, CPU time, the number of processes. vitro makes a directory for the container in each cgroup hierarchy, writes the limits you gave (-m, --cpus, --pids-limit) into files there, and hands pid 1 the cgroup's files, open: pid 1 writes 0 (itself) into each, which moves it without a slow host-wide lock. Everything pid 1 starts afterwards is born in the same cgroup.",
                "The host uses cgroup \(ctx.cgroupVersion ?? "v1 or v2"). Each write below names its file on this version and its counterpart on the other.",
            ]
        case .network:
            return [
                "pid 1 still waits. Its network namespace has only lo, and lo is down. On the default bridge network vitro now makes a veth pair, a virtual cable: one end on the host's bridge (vitro0, the containers' switch), the other made directly inside the container's namespace as eth0. Through a netlink socket made in that namespace it brings lo and eth0 up, gives eth0 the address IPAM chose and adds a default route via the bridge.",
                "Published ports (-p) become DNAT rules in vitro's own nftables table, one transaction per container; traffic leaving the host is masqueraded. With --net none only lo is brought up. Each netlink message shows the ip command that sends the same message.",
            ]
        case .exec:
            return [
                "Last, pid 1 enters a new cgroup namespace (so its own cgroup looks like the root to it), changes to the working directory, finds \(ctx.argv.first ?? "the command") on PATH inside the new root, and calls execve(2): the helper's program is replaced by the container's command, which keeps pid 1.",
                "Just before execve it gives up what root inside must not keep: every capability outside Docker's fourteen leaves the bounding set, it switches to the container's user, and it loads Docker's seccomp filter, a BPF program under which mount, unshare, keyctl and every other call Docker's profile does not list fail with EPERM from then on.",
            ]
        case .pull:
            return [
                "The image is not in vitro's store yet, so vitro pulls it. It asks the registry for the image's manifest (a list of the layers and the config, each named by the SHA-256 of its bytes), then downloads each blob, hashing it as it arrives: a blob whose hash is not its name is refused. Watch the HTTP requests go by, each with the curl command that would make it.",
            ]
        case .unpack:
            return [
                "Each layer is a tar archive of the files it adds or changes; a file named .wh.NAME in it means NAME was deleted. vitro unpacks each layer once into a snapshot directory keyed by its chain ID, turning whiteouts into what overlayfs understands. The container will see the snapshots stacked read-only, with a writable directory of its own on top.",
            ]
        case .commit, .build, .push, .none:
            return []
        }
    }
}
