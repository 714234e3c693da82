"""Two Debian 12 machines booted with their own systemd (systemd-nspawn), on a bridge in a network
namespace this test makes, to try the Debian package the way an operator installs it.

Facts (booting without a systemd host, nsenter, stopping): docs in ../../docs/architecture.md's
testing layers and systemd-nspawn(1). The root tree is made once with debootstrap and cached under
.build/systemd/root; each machine boots from its own copy.
"""
import fcntl
import os
import pathlib
import shutil
import signal
import subprocess
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
CACHE = ROOT / ".build" / "systemd"
TREE = CACHE / "root"
PACKAGES = ["systemd", "systemd-sysv", "dbus", "iproute2", "libnl-3-200", "libnl-genl-3-200", "libnl-route-3-200", "libyaml-0-2",
            "man-db", "adduser", "procps", "iputils-ping"]
NETNS = "tandem-sd"
BRIDGE = "br0"
SUBNET = "10.77.0"


def sh(*args, check=True, timeout=120, **kw):
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}\n{proc.stdout}{proc.stderr}")
    return proc


def _tree_ready():
    try:
        return (TREE / "etc" / "os-release").exists() and (TREE / ".tandem-packages").read_text().split() == PACKAGES
    except OSError:  # absent, or being replaced by another maker
        return False


def ensure_tree():
    """The cached root tree; made with debootstrap (about a minute from the Debian archive) when missing.
    One maker at a time (integration/test-all starts it in the background while it builds)."""
    if _tree_ready():
        return TREE
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _tree_ready():
            return TREE
        return _make_tree()


def _make_tree():
    missing = [tool for tool in ("debootstrap", "systemd-nspawn", "nsenter") if not shutil.which(tool)]
    assert not missing, f"{missing} missing: run integration/setup --for test (packages debootstrap, systemd-container)"
    tmp = CACHE / "root.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    mirror = os.environ.get("TANDEM_DEBIAN_MIRROR", "http://deb.debian.org/debian")
    sh("debootstrap", "--variant=minbase", "--include=" + ",".join(PACKAGES), "bookworm", tmp, mirror, timeout=900)
    (tmp / ".tandem-packages").write_text(" ".join(PACKAGES))
    shutil.rmtree(TREE, ignore_errors=True)
    tmp.rename(TREE)
    return TREE


class Machine:
    """One booted container: `run` executes a command inside with nsenter."""

    def __init__(self, name, address, workdir):
        self.name, self.address = name, address
        self.tree = workdir / name
        self.proc = None
        self.init_pid = None

    def prepare(self, deb):
        shutil.rmtree(self.tree, ignore_errors=True)
        sh("cp", "-a", "--reflink=auto", TREE, self.tree, timeout=300)
        (self.tree / "etc" / "hostname").write_text(self.name + "\n")
        shutil.copy(deb, self.tree / "root" / "tandem.deb")
        # The container's address on the test bridge, before anything else starts.
        unit = self.tree / "etc" / "systemd" / "system" / "tandem-test-net.service"
        unit.write_text(f"""[Unit]
Description=Test address on host0
DefaultDependencies=no
Before=network-online.target tandemd.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/sbin/ip link set host0 up
ExecStart=/sbin/ip addr add {self.address}/24 dev host0
[Install]
WantedBy=multi-user.target
""")
        wants = self.tree / "etc" / "systemd" / "system" / "multi-user.target.wants"
        wants.mkdir(parents=True, exist_ok=True)
        link = wants / "tandem-test-net.service"
        if not link.exists():
            link.symlink_to("/etc/systemd/system/tandem-test-net.service")

    def boot(self, log_dir):
        log = open(log_dir / f"{self.name}.console", "w")
        # nspawn runs in the host's namespaces (under `ip netns exec` it finds no cgroup hierarchy:
        # that remounts /sys); its --network-veth host end is moved into the test's namespace at
        # once and joined to the bridge, so no traffic touches the host's own network.
        self.proc = subprocess.Popen(
            ["systemd-nspawn", "--boot", "--register=no", "--keep-unit", "--console=passive", "--network-veth",
             "-M", self.name, "-D", str(self.tree)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 90
        veth = ("ve-" + self.name)[:15]
        moved = False
        while time.monotonic() < deadline and (self.init_pid is None or not moved):
            if not moved and sh("ip", "link", "show", veth, check=False).returncode == 0:
                sh("ip", "link", "set", veth, "netns", NETNS)
                sh("ip", "-n", NETNS, "link", "set", veth, "master", BRIDGE, "up")
                moved = True
            assert self.proc.poll() is None, f"{self.name}: systemd-nspawn exited {self.proc.returncode}: see {log.name}"
            # nspawn's child is the container's PID 1 (its NSpid ends in 1).
            for child in sh("pgrep", "-P", str(self.proc.pid), check=False).stdout.split():
                try:
                    status = pathlib.Path(f"/proc/{child}/status").read_text()
                except OSError:
                    continue
                if any(line.startswith("NSpid:") and line.split()[-1] == "1" and len(line.split()) == 3
                       for line in status.splitlines()):
                    self.init_pid = int(child)
            time.sleep(0.1)
        assert self.init_pid and moved, f"{self.name}: no init process or no {veth} within 90 s; see {log.name}"
        state = ""
        while time.monotonic() < deadline:
            state = self.run("systemctl", "is-system-running", check=False).stdout.strip()
            if state in ("running", "degraded"):
                return
            time.sleep(0.5)
        raise AssertionError(f"{self.name}: systemd did not finish booting within 90 s (state {state!r})")

    def run(self, *args, check=True, timeout=60, input=None):
        return sh("nsenter", "-t", self.init_pid, "-a", *args, check=check, timeout=timeout, input=input)

    def show(self, *props):
        out = self.run("systemctl", "show", "-p", ",".join(props), "tandemd").stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def vips(self):
        import json
        out = json.loads(self.run("ip", "-j", "addr", "show", "dev", "host0").stdout)
        return [a["local"] for link in out for a in link.get("addr_info", [])]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            # SIGTERM makes nspawn halt the container (SIGRTMIN+3 to its init); never SIGKILL it.
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


class Pair:
    """The network namespace with the bridge (and the client, at .100) and two machines."""

    def __init__(self, workdir):
        self.workdir = workdir
        sh("ip", "netns", "del", NETNS, check=False)
        sh("ip", "netns", "add", NETNS)
        sh("ip", "-n", NETNS, "link", "add", BRIDGE, "type", "bridge")
        sh("ip", "-n", NETNS, "addr", "add", f"{SUBNET}.100/24", "dev", BRIDGE)
        sh("ip", "-n", NETNS, "link", "set", BRIDGE, "up")
        sh("ip", "-n", NETNS, "link", "set", "lo", "up")
        self.a = Machine("sd-a", f"{SUBNET}.2", workdir)
        self.b = Machine("sd-b", f"{SUBNET}.3", workdir)

    def machines(self):
        return [self.a, self.b]

    def client(self, *args, check=True, timeout=60):
        return sh("ip", "netns", "exec", NETNS, *args, check=check, timeout=timeout)

    def close(self):
        for m in self.machines():
            m.stop()
        sh("ip", "netns", "del", NETNS, check=False)
