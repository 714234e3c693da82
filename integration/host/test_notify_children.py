"""Notify commands and their children (issue 13, kind 9), with two real tandemd.

The notify script appends each run to a file per node and leaves a background child behind (the
issue's `sh -c 'sleep 600 &'`, which used to stop every later notify); the standby script also
ignores SIGTERM and outlives the notify timeout. Over several role changes every notify must run,
in order, and no child of tandemd may be left a zombie.

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
from failover_pair import Pair  # noqa: E402


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

        def finished(n):
            return pair.log(n).count(killed) + pair.log(n).count("notify active: ") == len(expected[n])

        # Each standby notify runs into the 1 s timeout and its 1 s grace: allow for all of them.
        pair.wait_for(lambda: all(ran(n) == expected[n] and finished(n) for n in ("a", "b")), 30, step=0.1,
                      what=f"every notify ran, in order, and finished: expected {expected}")
        for n in ("a", "b"):
            log = pair.log(n)
            assert log.count(killed) == expected[n].count("standby"), log[-3000:]
            assert log.count("notify active: ") == log.count("exited with status 0") == expected[n].count("active")
            pid = pair.procs[n].pid
            zombies = [c for c in proc_children(pid) if c[1] == "Z"]
            assert zombies == [], f"zombie children of tandemd {pid}: {zombies}"
        # Status shows how they ended: the standby runs failed (killed at the timeout), the active
        # ones succeeded; a WARNING while the newest one failed.
        for n in ("a", "b"):
            notify = json.loads(pair.ctl(n, "status", "--json").stdout)["notify"]
            assert notify["failed"] == expected[n].count("standby"), notify
            assert notify["succeeded"] == expected[n].count("active"), notify
            assert "running" not in notify and notify["queued"] == 0, notify
            assert notify["last"]["role"] == expected[n][-1], notify
            assert notify["last_failure"]["role"] == "standby" and killed in notify["last_failure"]["outcome"], notify
            text = pair.ctl(n, "status").stdout
            assert ("WARNING: notify standby failed at " in text) == (expected[n][-1] == "standby"), text
        # Every background child was left running (not killed: the command had ended normally) — except
        # those of the standby runs, killed with their group at the timeout.
        assert len(sleepers(marker)) == sum(v.count("active") for v in expected.values())
        print(f"\n[notify] runs {expected}; no zombies")
    finally:
        pair.close()
        for pid in sleepers(marker):
            os.kill(pid, signal.SIGKILL)


def pair_name(node):
    return {"a": "ra", "b": "rb"}[node]
