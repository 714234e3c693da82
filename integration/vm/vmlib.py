"""Helpers for tests that run inside the throwaway VM (integration/vm/run-tests boots it).
(Not named conftest: integration/host has a conftest module of its own.)

They need root and a kernel with IPVS; outside such a VM every test here fails on purpose
(these tests are not meant to be skipped silently)."""
import os
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]
TANDEMCTL = os.environ.get("TANDEMCTL") or str(pathlib.Path(os.environ.get("TANDEM_BIN", ROOT / ".build" / "debug")) / "tandemctl")
EXAMPLES = ROOT / "examples"


def run(*args, check=False, timeout=300, input=None):
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


