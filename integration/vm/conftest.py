"""Helpers for tests that run inside the throwaway VM (integration/vm/run-tests boots it).

They need root and a kernel with IPVS; outside such a VM every test here fails on purpose
(these tests are not meant to be skipped silently)."""
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TANDEMCTL = os.environ.get("TANDEMCTL", str(ROOT / ".build" / "debug" / "tandemctl"))
EXAMPLES = ROOT / "examples"


def run(*args, check=False, timeout=60, input=None):
    """Runs a command, returning CompletedProcess with text stdout/stderr."""
    proc = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, input=input)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def tandemctl(*args, **kw):
    return run(TANDEMCTL, *args, **kw)


def ipvsadm_save():
    """The kernel table as the independent oracle prints it."""
    return run("ipvsadm", "-S", "-n", check=True).stdout


@pytest.fixture(autouse=True)
def clean_ipvs():
    """Every test starts and ends with an empty IPVS table and no sync daemons."""
    assert os.geteuid() == 0, "VM tests run as root inside integration/vm/run"
    run("modprobe", "ip_vs", check=True)
    run("ipvsadm", "-C", check=True)
    for role in ("master", "backup"):
        run("ipvsadm", "--stop-daemon", role)
    yield
    run("ipvsadm", "-C")
    for role in ("master", "backup"):
        run("ipvsadm", "--stop-daemon", role)
