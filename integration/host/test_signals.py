"""Signals at any moment of tandemd's life (issue 13, kind 9).

Before its handlers were in place, SIGTERM, SIGHUP and SIGUSR1 had their default action and
killed tandemd by signal. Now each is recorded from the first line of `main` and acted on once the
daemon's own handler is installed: SIGTERM during start-up exits 0 without taking a role, SIGHUP
reloads, SIGUSR1 logs a status line. (The few milliseconds between exec and `main`, while the
dynamic loader runs, cannot be covered; delays here count from the moment /proc shows the
start-up handlers installed.)

Run as root after `swift build`:  python3 -m pytest -v -s integration/host/test_signals.py
"""
import os
import signal
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from failover_pair import Pair  # noqa: E402


@pytest.fixture
def pair(topo):
    p = Pair(topo, interval_ms=100, dead_ms=400)
    yield p
    p.close()


def caught(pid):
    """The set of signal numbers `pid` has handlers for (SigCgt in /proc/PID/status)."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("SigCgt:"):
            mask = int(line.split()[1], 16)
            return {n for n in range(1, 65) if mask >> (n - 1) & 1}
    return set()


def start_exec(pair, node="a"):
    """Starts tandemd and returns as soon as its `main` has installed the start-up handlers
    (SIGTERM, SIGINT, SIGHUP and SIGUSR1 caught), bounded."""
    proc = pair.start(node)
    wanted = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if open(f"/proc/{proc.pid}/comm").read().strip() == "tandemd" and wanted <= caught(proc.pid):
                return proc
        except OSError:
            break
        time.sleep(0.0002)
    raise AssertionError("tandemd did not start")


# From right after `main` began, through start-up, the claim at the dead time (400 ms), and steady state.
DELAYS = [0, 0.002, 0.01, 0.02, 0.05, 0.1, 0.2, 0.38, 0.42, 0.6, 1.0]


def test_sigterm_at_any_moment_exits_cleanly_and_leaves_no_vip(pair):
    results = []
    for delay in DELAYS:
        proc = start_exec(pair)
        time.sleep(delay)
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=10)
        results.append((delay, rc, pair.holds_vip("a")))
    print("\n[sigterm] " + ", ".join(f"{d * 1000:.0f}ms: exit {rc}{' VIP LEFT' if held else ''}" for d, rc, held in results))
    assert [rc for _, rc, _ in results] == [0] * len(DELAYS), results
    assert not any(held for _, _, held in results), results


def test_sighup_and_sigusr1_during_start_up_are_not_fatal_and_are_acted_on(pair):
    for delay in [0, 0.005, 0.03, 0.1, 0.3]:
        before = (pair.log("a").count("reload: config unchanged"), pair.log("a").count(" status: "))
        proc = start_exec(pair)
        time.sleep(delay)
        proc.send_signal(signal.SIGHUP)
        proc.send_signal(signal.SIGUSR1)
        pair.wait_for(lambda: pair.log("a").count("reload: config unchanged") > before[0]
                      and pair.log("a").count(" status: ") > before[1], 5, what=f"reload and status after signals at {delay}s")
        assert proc.poll() is None, f"tandemd died from a signal at {delay * 1000:.0f}ms: {proc.returncode}"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_a_burst_of_sighup_while_reloading_keeps_one_active(pair):
    pair.start_settled()
    for _ in range(50):
        pair.signal("a", signal.SIGHUP)
        pair.signal("b", signal.SIGHUP)
        time.sleep(0.002)
    time.sleep(0.5)
    assert pair.procs["a"].poll() is None and pair.procs["b"].poll() is None
    pair.wait_settled("a", timeout=5)
    assert pair.roles("a")[-1][1] == "active" and len(pair.roles("b")) == 1
