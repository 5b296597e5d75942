"""A Docker daemon of a benchmark's own, for Benchmarks/run and Benchmarks/pull.

    import dockerd
    d = dockerd.Dockerd(work, netns="/run/netns/NAME", bridge_cidr="10.251.0.1/24",
                        insecure=["127.0.0.1:5000"], cgroup_parent="vitro-bench-docker-PID")
    why = d.start()          # None, or why no daemon runs (no dockerd, it did not start)
    subprocess.run([d.client, "info"], env=d.env)
    problems = d.stop()      # what it left or changed: [] when nothing

The daemon keeps away from the machine: its own data root, exec root, pid file and
socket under WORK/dockerd, an empty daemon.json (the machine's /etc/docker/daemon.json
is not read), `--ip-forward=false --iptables=false --ip6tables=false --ip-masq=false`,
and `--bridge=none` unless `bridge_cidr` is given. With `netns` (a path such as
/run/netns/NAME) dockerd, and the containerd and shims it starts, run inside that
network namespace: a bridge (`docker0`, `bridge_cidr`), the containers' veths and the
ports `-p` publishes live and die there. With `cgroup_parent` its containers' cgroups
go under /sys/fs/cgroup/*/CGROUP_PARENT, removed at the end.

stop() stops dockerd (and its containerd), unmounts what they left mounted under their
directories, removes them and the cgroup parent, and returns, as sentences, whatever
is still wrong: the machine's /proc/sys/net/ipv4/ip_forward or its links (`ip -o link`
in the machine's own network namespace, both ways) differing from before start(), a
mount left under its directories. A caller fails loudly on any.
"""

import os
import shutil
import subprocess
import time


def mount_points():
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4] for line in f}


def read_ip_forward():
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        return f.read().strip()


def host_links():
    """Link names in the machine's own network namespace (this process's)."""
    p = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True)
    return {line.split(":")[1].strip().split("@")[0] for line in p.stdout.splitlines() if ":" in line}


def client_path():
    """The Debian docker.io client (the daemon's own version) when installed, else any."""
    for p in ("/usr/bin/docker", shutil.which("docker")):
        if p and os.access(p, os.X_OK):
            return p
    return None


class Dockerd:
    def __init__(self, work, netns=None, bridge_cidr=None, insecure=(), cgroup_parent=None):
        self.dir = os.path.join(work, "dockerd")
        self.netns = netns
        self.bridge_cidr = bridge_cidr
        self.insecure = list(insecure)
        self.cgroup_parent = cgroup_parent
        self.client = client_path()
        self.proc = None
        self.log = None
        self.env = dict(os.environ)
        self.sock = os.path.join(self.dir, "docker.sock")
        self.env["DOCKER_HOST"] = "unix://" + self.sock
        self.forward_before = read_ip_forward()
        self.links_before = host_links()
        self.had = {p: os.path.exists(p) for p in ("/run/docker", "/etc/docker")}
        self.version = None

    def command(self):
        d = self.dir
        cmd = [shutil.which("dockerd") or "dockerd", "--config-file", os.path.join(d, "daemon.json"),
               "--data-root", os.path.join(d, "data"), "--exec-root", os.path.join(d, "exec"),
               "--pidfile", os.path.join(d, "docker.pid"), "-H", "unix://" + self.sock,
               "--ip-forward=false", "--iptables=false", "--ip6tables=false", "--ip-masq=false",
               "--storage-driver=overlay2"]
        cmd += ["--bip", self.bridge_cidr] if self.bridge_cidr else ["--bridge=none"]
        for r in self.insecure:
            cmd += ["--insecure-registry", r]
        if self.cgroup_parent:
            cmd += ["--cgroup-parent", "/" + self.cgroup_parent]
        if self.netns:
            cmd = ["nsenter", f"--net={self.netns}"] + cmd
        return cmd

    def start(self):
        """Starts the daemon; returns None, or why no daemon runs."""
        if not self.client:
            return "no docker client (apt-get install -y docker.io)"
        if not shutil.which("dockerd"):
            return "dockerd is not installed (apt-get install -y docker.io)"
        os.makedirs(self.dir)
        with open(os.path.join(self.dir, "daemon.json"), "w") as f:
            f.write("{}")
        self.log = open(os.path.join(self.dir, "dockerd.log"), "w")
        # nsenter execs dockerd: self.proc is dockerd itself.
        # TMPDIR: containerd dumps its stacks (containerd.PID.stacks.log) there when
        # signalled; in the daemon's directory, which goes with it.
        self.proc = subprocess.Popen(self.command(), stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env={**os.environ, "TMPDIR": self.dir})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.proc.poll() is None:
            if os.path.exists(self.sock):
                p = subprocess.run([self.client, "version", "-f", "{{.Server.Version}}"], env=self.env,
                                   capture_output=True, text=True)
                if p.returncode == 0:
                    self.version = p.stdout.strip()
                    return None
            time.sleep(0.1)
        tail = self.log_tail()
        problems = self.stop()
        return "dockerd did not start: " + tail + ("; " + "; ".join(problems) if problems else "")

    def log_tail(self, n=1500):
        try:
            with open(os.path.join(self.dir, "dockerd.log")) as f:
                return f.read()[-n:].strip()
        except OSError:
            return ""

    def docker(self, *args, **kw):
        """The client with this daemon's socket: a CompletedProcess (text, captured)."""
        return subprocess.run([self.client, *args], env=self.env, capture_output=True, text=True, **kw)

    def pids(self):
        """{'dockerd': pid, 'containerd': pid} of the running daemon (what is known)."""
        out = {}
        if self.proc and self.proc.poll() is None:
            out["dockerd"] = self.proc.pid
        try:
            with open(os.path.join(self.dir, "exec", "containerd", "containerd.pid")) as f:
                out["containerd"] = int(f.read().strip())
        except (OSError, ValueError):
            pass
        return out

    def shim_pids(self):
        """container id -> pid of its containerd-shim (the shims this daemon's containerd
        started: their -address names its socket under our exec root)."""
        addr = os.path.join(self.dir, "exec", "containerd")
        out = {}
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    argv = f.read().decode(errors="replace").split("\0")
            except OSError:
                continue
            if not argv or "containerd-shim" not in os.path.basename(argv[0]):
                continue
            if not any(a.startswith(addr) for a in argv):
                continue
            if "-id" in argv and argv.index("-id") + 1 < len(argv):
                out[argv[argv.index("-id") + 1]] = int(d)
        return out

    def stop(self):
        """Stops the daemon, removes its directories; returns what is still wrong."""
        problems = []
        if self.proc:
            containerd = self.pids().get("containerd")
            if self.proc.poll() is None:
                # Containers first, so their shims and veths go before the daemon.
                # The client directly: a subclass may give docker() another meaning.
                client = lambda *a: subprocess.run([self.client, *a], env=self.env, capture_output=True,
                                                   text=True, timeout=120)
                try:
                    ids = client("ps", "-aq").stdout.split()
                    if ids:
                        client("rm", "-f", *ids)
                except subprocess.TimeoutExpired:
                    problems.append("docker ps / rm -f of its containers timed out")
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    problems.append("dockerd did not end 30 s after SIGTERM (killed)")
                    self.proc.kill()
                    self.proc.wait()
            if containerd:
                for sig, pause in ((15, 2.0), (9, 1.0)):
                    try:
                        os.kill(containerd, sig)
                    except ProcessLookupError:
                        break
                    deadline = time.monotonic() + pause
                    while time.monotonic() < deadline and os.path.exists(f"/proc/{containerd}"):
                        time.sleep(0.05)
            for pid in self.shim_pids().values():
                problems.append(f"containerd-shim {pid} outlived its daemon (killed)")
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
            self.proc = None
        if self.log:
            self.log.close()
            self.log = None
        for m in sorted((m for m in mount_points() if m.startswith(self.dir + "/")), key=len, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)
        left = [m for m in mount_points() if m.startswith(self.dir + "/")]
        problems += [f"mount {m} left by dockerd" for m in sorted(left)]
        if not left:
            shutil.rmtree(self.dir, ignore_errors=True)
        if os.path.exists(self.dir):
            problems.append(f"directory {self.dir} could not be removed")
        if self.cgroup_parent:
            for c in os.listdir("/sys/fs/cgroup"):
                p = f"/sys/fs/cgroup/{c}/{self.cgroup_parent}"
                if os.path.isdir(p):
                    for sub in sorted((os.path.join(dp, x) for dp, dn, _ in os.walk(p) for x in dn),
                                      key=len, reverse=True):
                        try:
                            os.rmdir(sub)
                        except OSError:
                            pass
                    try:
                        os.rmdir(p)
                    except OSError as e:
                        problems.append(f"cgroup {p}: {e.strerror}")
        # dockerd makes these whatever its roots are; remove them only if it made them.
        for p, had in self.had.items():
            if not had and os.path.exists(p):
                shutil.rmtree(p, ignore_errors=True)
        forward = read_ip_forward()
        if forward != self.forward_before:
            problems.append(f"/proc/sys/net/ipv4/ip_forward changed from {self.forward_before} to {forward}")
        links = host_links()
        if links != self.links_before:
            added, gone = sorted(links - self.links_before), sorted(self.links_before - links)
            problems.append("the machine's links changed while dockerd ran"
                            + (f": new {', '.join(added)}" if added else "")
                            + (f"; gone {', '.join(gone)}" if gone else ""))
        return problems
