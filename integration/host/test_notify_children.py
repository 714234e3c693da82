"""Notify commands and their children (issue 13, kind 9), with two real tandemd.

The notify script appends each run to a file per node and leaves a background child behind (the
issue's `sh -c 'sleep 600 &'`, which used to stop every later notify); the standby script also
ignores SIGTERM and outlives the notify timeout. Over several role changes the notifies run in
order, the newest role's last; a role change's command that had not started when a newer one came
is skipped and logged (a stale standby command must not run on a node that is active again), and
no child of tandemd may be left a zombie.

Run as root after `swift build`:  python3 -m pytest -v -s integration/host/test_notify_children.py
"""
import json
import os
import secrets
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from failover_pair import VIP, Pair  # noqa: E402


def proc_children(pid):
    """[(child pid, state letter, command name)] of `pid`, from /proc."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            out.append((int(entry), fields[0], name))
    return out


def sleepers(marker):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/cmdline").read_bytes() == f"/bin/sleep\0{marker}\0".encode():
                    found.append(int(entry))
            except OSError:
                pass
    return found


def test_notify_runs_every_time_in_order_with_lingering_and_stubborn_children(topo):
    pair = Pair(topo, interval_ms=100, dead_ms=400)
    marker = f"600.{secrets.randbelow(10**6)}"      # the background child's sleep, unique on this host
    runs = pair.dir / "notify"
    runs.mkdir()
    script = pair.dir / "notify.sh"
    script.write_text(f"""#!/bin/sh
echo "$TANDEM_ROLE" >> {runs}/$TANDEM_NODE
/bin/sleep {marker} &
if [ "$TANDEM_ROLE" = standby ]; then trap '' TERM; /bin/sleep 5; fi
exit 0
""")
    os.chmod(script, 0o755)
    tail = f"notify: {{active: [{script}], standby: [{script}], timeout: 1s}}\n"
    pair.config.write_text(pair.config_text(tail=tail))
    try:
        pair.start_settled()
        # Four more role changes each: failover back and forth (asked on either node).
        for _ in range(4):
            r = pair.ctl("a", "failover", "--json")
            assert r.returncode == 0, r.stderr
            time.sleep(0.3)
        expected = {n: [to for _, to, _ in pair.roles(n) if to in ("active", "standby")] for n in ("a", "b")}
        assert all(len(v) >= 3 for v in expected.values()), expected

        def ran(n):
            f = runs / pair_name(n)
            return f.read_text().split() if f.exists() else []

        killed = ("killed at the timeout (1s): SIGTERM to its process group, still running 1s later "
                  "(it ignores SIGTERM), so SIGKILL")

        def subsequence(short, long):
            it = iter(long)
            return all(any(x == y for y in it) for x in short)

        def settled(n):
            notify = json.loads(pair.ctl(n, "status", "--json").stdout).get("notify") or {}
            done = notify.get("succeeded", 0) + notify.get("failed", 0) + notify.get("skipped", 0)
            return "running" not in notify and notify.get("queued") == 0 and done == len(expected[n])

        # Each standby notify runs into the 1 s timeout and its 1 s grace: allow for all of them.
        pair.wait_for(lambda: all(settled(n) for n in ("a", "b")), 30, step=0.2,
                      what=f"every notify ran or was skipped: expected {expected}")
        for n in ("a", "b"):
            done = ran(n)
            assert done and done[-1] == expected[n][-1] and subsequence(done, expected[n]), (done, expected[n])
            log = pair.log(n)
            assert log.count(killed) == done.count("standby"), log[-3000:]
            finished_active = [line for line in log.splitlines() if "notify active: " in line and "before it started" not in line]
            assert len(finished_active) == log.count("exited with status 0") == done.count("active"), log[-3000:]
            assert log.count(" before it started") == len(expected[n]) - len(done), log[-3000:]
            pid = pair.procs[n].pid
            zombies = [c for c in proc_children(pid) if c[1] == "Z"]
            assert zombies == [], f"zombie children of tandemd {pid}: {zombies}"
        # Status shows how they ended: the standby runs failed (killed at the timeout), the active
        # ones succeeded, the others were skipped; a WARNING while the newest one failed.
        for n in ("a", "b"):
            done = ran(n)
            notify = json.loads(pair.ctl(n, "status", "--json").stdout)["notify"]
            assert notify["failed"] == done.count("standby") and notify["succeeded"] == done.count("active"), notify
            assert notify["skipped"] == len(expected[n]) - len(done), notify
            assert notify["last"]["role"] == expected[n][-1], notify
            if "standby" in done:
                assert notify["last_failure"]["role"] == "standby" and killed in notify["last_failure"]["outcome"], notify
            text = pair.ctl(n, "status").stdout
            assert ("WARNING: notify standby failed at " in text) == (expected[n][-1] == "standby"), text
        # Every background child was left running (not killed: the command had ended normally) — except
        # those of the standby runs, killed with their group at the timeout.
        assert len(sleepers(marker)) == sum(ran(n).count("active") for n in ("a", "b"))
        print(f"\n[notify] role changes {expected}, ran {ran('a')} / {ran('b')}; no zombies")
    finally:
        pair.close()
        for pid in sleepers(marker):
            os.kill(pid, signal.SIGKILL)


def pair_name(node):
    return {"a": "ra", "b": "rb"}[node]


def test_a_slow_stop_command_is_waited_for_and_said_so(topo):
    """A `stop` notify command that takes a while: tandemd releases, logs that it waits for the
    command, and holds the heartbeat port until it exits, so a tandemd started meanwhile refuses
    to start instead of running its `active` command before this one's `stop`."""
    pair = Pair(topo, interval_ms=100, dead_ms=400)
    script = pair.dir / "stop.sh"
    script.write_text("#!/bin/sh\n/bin/sleep 3\n")
    os.chmod(script, 0o755)
    pair.config.write_text(pair.config_text(tail=f"notify: {{stop: [{script}], timeout: 10s}}\n"))
    try:
        pair.start_settled()
        pair.signal("b", signal.SIGTERM)
        pair.wait_for(lambda: "waiting for the notify command(s) stop (running" in pair.log("b"), 10,
                      what="rb says it waits for its stop command")
        assert pair.procs["b"].poll() is None, "tandemd should still be running its stop command"
        out = topo.exec("b", "ss", "-Hlun").stdout
        assert f":{pair.port} " in out, out
        pair.wait_exit("b")
        assert "notify stop: " in pair.log("b") and "exited with status 0" in pair.log("b")
    finally:
        pair.close()


def test_the_stop_command_runs_after_the_release(topo):
    """reference.yaml says `stop` runs "when tandemd stops (after the release)"; an operator
    trial saw it start when the handover began, 65-70 ms before the release, so a script that
    stops local services cut them while the router still held the VIP. The stopping active's
    script records its own addresses: the VIP is gone by then, and rb holds it."""
    pair = Pair(topo, interval_ms=100, dead_ms=400)
    seen = pair.dir / "addresses-at-stop.txt"
    script = pair.dir / "stop.sh"
    script.write_text(f"#!/bin/sh\nip -o addr show dev eth0 > {seen}\n")
    os.chmod(script, 0o755)
    pair.config.write_text(pair.config_text(tail=f"notify: {{stop: [{script}]}}\n"))
    try:
        pair.start_settled()
        pair.signal("a", signal.SIGTERM)
        pair.wait_exit("a")
        text = seen.read_text()
        assert "10.99.0.1/" in text, text  # the script ran, in ra's namespace
        assert f" {VIP}/" not in text, f"the VIP was still on ra when its stop command ran:\n{text}"
        assert pair.holders() == {"b"}
    finally:
        pair.close()


class FakeNotifySocket:
    """systemd's notify socket as tandemd sees it: an AF_UNIX datagram socket at a path (given
    to tandemd as NOTIFY_SOCKET); records (monotonic time, datagram text) from a thread."""

    def __init__(self, path):
        import socket
        import threading
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages = []
        self.running = True
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while self.running:
            try:
                data = self.sock.recv(4096)
            except OSError:
                continue
            self.messages.append((time.monotonic(), data.decode(errors="replace")))

    def close(self):
        self.running = False
        self.thread.join(timeout=5)
        self.sock.close()


def test_a_stop_waiting_for_notify_commands_extends_systemds_stop_timeout(topo):
    """Trial 34: with notify.timeout 30s a stop may wait up to 2 x (30 s + 1 s) for the role
    command still running and then `stop`, past the unit's TimeoutStopSec=30s, so systemd
    SIGKILLed tandemd and its stop script. While it waits, tandemd now sends
    EXTEND_TIMEOUT_USEC= (with a STATUS= saying what it waits for) at once and again before each
    extension runs out, each covering the command's worst case (timeout 10 s + 1 s)."""
    pair = Pair(topo, interval_ms=100, dead_ms=400)
    script = pair.dir / "stop.sh"
    script.write_text("#!/bin/sh\n/bin/sleep 5\n")
    os.chmod(script, 0o755)
    pair.config.write_text(pair.config_text(tail=f"notify: {{stop: [{script}], timeout: 10s}}\n"))
    manager = FakeNotifySocket(pair.dir / "notify.sock")
    try:
        pair.start("a")
        pair.wait_for(lambda: pair.role("a") == "active", 10, what="ra active")
        pair.start("b", env={"NOTIFY_SOCKET": manager.path})
        pair.wait_settled("a")
        pair.signal("b", signal.SIGTERM)
        stopped = time.monotonic()
        pair.wait_exit("b", timeout=20)
        exited = time.monotonic()
        time.sleep(0.3)
    finally:
        manager.close()
        pair.close()
    assert "notify stop: " in pair.log("b") and "exited with status 0" in pair.log("b"), pair.log("b")[-2000:]
    assert any("STOPPING=1" in m for _, m in manager.messages), manager.messages
    extensions = [(t, m) for t, m in manager.messages if m.startswith("EXTEND_TIMEOUT_USEC=")]
    assert len(extensions) >= 2, f"expected EXTEND_TIMEOUT_USEC= repeated during a 5 s stop command: {manager.messages}"
    until = None
    for t, m in extensions:
        lines = dict(line.split("=", 1) for line in m.splitlines())
        usec = int(lines["EXTEND_TIMEOUT_USEC"])
        assert "waiting for the notify command" in lines.get("STATUS", "") and "stopping" in lines["STATUS"], m
        assert stopped <= t <= exited, "an extension outside the stop"
        if until is not None:
            assert t <= until, f"an extension came {t - until:.1f}s after the previous one ran out"
        until = t + usec / 1e6
    first = int(dict(line.split("=", 1) for line in extensions[0][1].splitlines())["EXTEND_TIMEOUT_USEC"])
    assert first >= 11_000_000, f"the first extension ({first} µs) is shorter than the stop command's worst case (10 s + 1 s)"
    assert until >= exited, "the last extension ran out before tandemd exited"
