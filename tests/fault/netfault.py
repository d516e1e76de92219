"""The machinery of the fault suite: network namespaces joined by a bridge,
packet filters for partitions, one cgroup per member, small tmpfs disks.

Everything created here is named with the run's prefix ("rf" and six hex
digits, new for every pytest session) and remembered in a registry, so
Fabric.sweep() can remove it all at the end of the session even when a
fixture never got to its finalizer. Nothing is shared with other runs or
other users of the machine: the prefix is random, the /24 is checked
against every address and route of the root namespace before use.

Layout:

  root namespace:  bridge <prefix>br, address <subnet>.1 (the test process:
                   writer, prober and REST calls reach members through it)
  per member:      namespace <prefix>-<name>, veth <prefix>v<i> (bridge
                   side) <-> eth0 (member side), address <subnet>.(10+i)
                   cgroup <cgroup v2 root>/<prefix>-<name>

Partitions are nft rules in the member's own namespace (table inet
regentfault), so the link to the test process stays up: a partition
separates members from each other, never clients from a member, which is
the worst case for split brain (clients can keep writing to a deposed
primary) and lets the prober see every node throughout.
"""

import contextlib
import os
import random
import subprocess
import time
from pathlib import Path

def _cgroup2_root():
    """The cgroup v2 hierarchy: /sys/fs/cgroup on a unified host, its
    "unified" subdirectory on a hybrid one (as on the development VM)."""
    for p in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")):
        if (p / "cgroup.procs").exists() and (p / "cgroup.controllers").exists():
            return p
    return Path("/sys/fs/cgroup/unified")


CGROUP_ROOT = _cgroup2_root()
NETNS_DIR = Path("/run/netns")
# One file per live run, named by its prefix, holding the pytest pid.
OWNERS_DIR = Path("/run/regent-fault")
CLONE_NEWNET = 0x40000000
CMD_TIMEOUT = 10  # one ip/nft/mount command


def run(*argv, check=True, input=None):
    """Run one command (bounded); returns CompletedProcess."""
    r = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=CMD_TIMEOUT, input=input
    )
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))}: exit {r.returncode}: {r.stderr.strip()}")
    return r


def prerequisites():
    """None when the suite can run here, else why not (a skip reason)."""
    if os.geteuid() != 0:
        return "the fault suite needs root (network namespaces, cgroups, mounts)"
    for tool in ("ip", "nft", "mount"):
        if run("sh", "-c", f"command -v {tool}", check=False).returncode != 0:
            return f"{tool} is not installed (Debian: iproute2, nftables, mount)"
    if not (CGROUP_ROOT / "cgroup.procs").exists():
        return f"no cgroup v2 hierarchy at {CGROUP_ROOT}"
    return None


def _used_prefixes():
    """Every 10.x.y.0/24 an address or route of the root namespace touches."""
    out = run("ip", "-4", "route", "show", "table", "all").stdout
    out += run("ip", "-4", "addr").stdout
    used = set()
    for word in out.split():
        parts = word.split("/")[0].split(".")
        if len(parts) == 4 and parts[0] == "10":
            used.add((parts[1], parts[2]))
    return used


def _pick_subnet(rng):
    used = _used_prefixes()
    for _ in range(100):
        b, c = str(rng.randint(100, 250)), str(rng.randint(1, 250))
        if (b, c) not in used:
            return f"10.{b}.{c}"
    raise RuntimeError("no free 10.x.y.0/24 found in 100 tries")


class Fabric:
    """One bridge and the namespaces of one pytest session."""

    def __init__(self, token=None):
        rng = random.SystemRandom()
        self.token = token or "%06x" % rng.getrandbits(24)
        self.prefix = "rf" + self.token
        self.subnet = _pick_subnet(rng)
        self.cidr = f"{self.subnet}.0/24"
        self.host_ip = f"{self.subnet}.1"
        self.bridge = self.prefix + "br"
        self.members = {}  # name -> Member
        self.mounts = []  # mount points, newest last
        self._next = 10
        OWNERS_DIR.mkdir(exist_ok=True)
        (OWNERS_DIR / self.prefix).write_text(f"{os.getpid()}\n")
        run("ip", "link", "add", self.bridge, "type", "bridge")
        run("ip", "addr", "add", f"{self.host_ip}/24", "dev", self.bridge)
        run("ip", "link", "set", self.bridge, "up")

    def member(self, name):
        """The member @name, created on first use (kept for the session)."""
        m = self.members.get(name)
        if m is None:
            self._next += 1
            m = Member(self, name, self._next)
            self.members[name] = m
        return m

    # --- disks

    def mount_tmpfs(self, target, size, uid=None, gid=None):
        """A tmpfs of @size bytes at @target (which must exist)."""
        opts = f"size={size},mode=0700"
        if uid is not None:
            opts += f",uid={uid},gid={gid}"
        run("mount", "-t", "tmpfs", "-o", opts, self.prefix + "disk", target)
        self.mounts.append(str(target))

    def umount(self, target):
        run("umount", "-l", target, check=False)
        with contextlib.suppress(ValueError):
            self.mounts.remove(str(target))

    # --- cleanup

    def sweep(self):
        """Remove every namespace, link, cgroup and mount of this prefix,
        whatever state the tests left them in. Idempotent."""
        for m in list(self.members.values()):
            m.destroy()
        self.members.clear()
        sweep_prefix(self.prefix)
        self.mounts.clear()


def sweep_prefix(prefix):
    """Remove what a run with @prefix left: its namespaces, cgroups, links
    (the bridge, the veths), tmpfs mounts and its owner file."""
    with contextlib.suppress(OSError):
        for ns in NETNS_DIR.iterdir():
            if ns.name.startswith(prefix):
                run("ip", "netns", "del", ns.name, check=False)
    with contextlib.suppress(OSError):
        for cg in CGROUP_ROOT.iterdir():
            if cg.name.startswith(prefix):
                _destroy_cgroup(cg)
    links = run("ip", "-o", "link", check=False).stdout
    for line in links.splitlines():
        parts = line.split(":")
        if len(parts) > 1:
            name = parts[1].strip().split("@")[0]
            if name.startswith(prefix):
                run("ip", "link", "del", name, check=False)
    with open("/proc/mounts") as f:
        for line in f:
            src, target = line.split()[:2]
            if src == prefix + "disk":
                run("umount", "-l", target, check=False)
    with contextlib.suppress(OSError):
        (OWNERS_DIR / prefix).unlink()


def sweep_stale():
    """Sweep the prefixes of earlier runs whose pytest process is gone (a
    SIGKILLed run never reaches its own sweep). A run still alive, this
    one or another user's, is left alone. Returns the prefixes swept."""
    swept = []
    with contextlib.suppress(OSError):
        for f in OWNERS_DIR.iterdir():
            try:
                pid = int(f.read_text().split()[0])
                os.kill(pid, 0)
                continue  # still running
            except ProcessLookupError:
                pass
            except (OSError, ValueError, IndexError):
                continue  # not ours to judge (unreadable, or another user's)
            sweep_prefix(f.name)
            swept.append(f.name)
    return swept


def _destroy_cgroup(path, timeout=5.0):
    """cgroup.kill, wait (bounded) until it is empty, rmdir."""
    with contextlib.suppress(OSError):
        (path / "cgroup.kill").write_text("1")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if not (path / "cgroup.procs").read_text().strip():
                break
        except OSError:
            return
        time.sleep(0.05)
    with contextlib.suppress(OSError):
        path.rmdir()


class Member:
    """One member's namespace, veth pair, address, cgroup and filter table."""

    def __init__(self, fabric, name, index):
        self.fabric = fabric
        self.name = name
        self.ns = f"{fabric.prefix}-{name}"
        self.veth = f"{fabric.prefix}v{index}"
        self.ip = f"{fabric.subnet}.{index}"
        self.cgroup = CGROUP_ROOT / self.ns
        run("ip", "netns", "add", self.ns)
        run("ip", "link", "add", self.veth, "type", "veth", "peer", "name", "eth0", "netns", self.ns)
        run("ip", "link", "set", self.veth, "master", fabric.bridge)
        run("ip", "link", "set", self.veth, "up")
        self.ip_ns("addr", "add", f"{self.ip}/24", "dev", "eth0")
        self.ip_ns("link", "set", "eth0", "up")
        self.ip_ns("link", "set", "lo", "up")
        self.cgroup.mkdir(exist_ok=True)
        # Policy accept; partitions add drop rules to these two chains.
        self.nft(
            "add table inet regentfault\n"
            "add chain inet regentfault input { type filter hook input priority 0; policy accept; }\n"
            "add chain inet regentfault output { type filter hook output priority 0; policy accept; }\n"
        )
        self.blocked = {"in": set(), "out": set()}

    def ip_ns(self, *args):
        return run("ip", "-n", self.ns, *args)

    def nft(self, script):
        return run("ip", "netns", "exec", self.ns, "nft", "-f", "-", input=script)

    # --- partitions

    def block(self, peers, direction="both"):
        """Drop packets from (in) and/or to (out) the addresses of @peers."""
        dirs = ("in", "out") if direction == "both" else (direction,)
        lines = []
        for d in dirs:
            for p in peers:
                if p.ip in self.blocked[d]:
                    continue
                self.blocked[d].add(p.ip)
                if d == "in":
                    lines.append(f"add rule inet regentfault input ip saddr {p.ip} drop")
                else:
                    lines.append(f"add rule inet regentfault output ip daddr {p.ip} drop")
        if lines:
            self.nft("\n".join(lines) + "\n")

    def heal(self):
        """Remove every drop rule of this member."""
        self.nft("flush chain inet regentfault input\nflush chain inet regentfault output\n")
        self.blocked = {"in": set(), "out": set()}

    # --- processes

    def preexec(self, ids):
        """For the child before exec: enter the namespace and the cgroup as
        root, then drop to @ids (uid, gid) and ask to die with pytest.
        PR_SET_PDEATHSIG must come after setuid: a credential change
        clears it."""
        from regent_harness import _libc, _set_pdeathsig

        ns_path = str(NETNS_DIR / self.ns)
        procs = str(self.cgroup / "cgroup.procs")

        def enter():
            fd = os.open(ns_path, os.O_RDONLY)
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                os._exit(126)
            os.close(fd)
            with open(procs, "w") as f:
                f.write(str(os.getpid()))
            if ids is not None:
                os.setgroups([])
                os.setgid(ids[1])
                os.setuid(ids[0])
            _set_pdeathsig()

        return enter

    def kill_all(self):
        """SIGKILL every process of the member (cgroup.kill): what systemd's
        KillMode=control-group does when the agent's unit stops, and what a
        machine crash looks like to the others."""
        with contextlib.suppress(OSError):
            (self.cgroup / "cgroup.kill").write_text("1")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                if not (self.cgroup / "cgroup.procs").read_text().strip():
                    return
            except OSError:
                return
            time.sleep(0.02)

    def pids(self):
        try:
            return [int(p) for p in (self.cgroup / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def signal_all(self, sig):
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def destroy(self):
        self.kill_all()
        _destroy_cgroup(self.cgroup)
        run("ip", "netns", "del", self.ns, check=False)
        run("ip", "link", "del", self.veth, check=False)
