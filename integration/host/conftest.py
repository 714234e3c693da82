"""Shared fixtures for host-kernel integration tests: built binaries and the repository root."""
import os
import pathlib
import subprocess

import pytest

from vip_topology import Topology

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _bin_dir() -> pathlib.Path:
    env = os.environ.get("TANDEM_BIN")
    if env:
        return pathlib.Path(env)
    out = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, capture_output=True, text=True, check=True)
    return pathlib.Path(out.stdout.strip())


@pytest.fixture(scope="session")
def bin_dir() -> pathlib.Path:
    d = _bin_dir()
    assert (d / "tandemctl").exists(), f"build first: {d}/tandemctl is missing"
    return d


@pytest.fixture(scope="session")
def tandemctl(bin_dir):
    def run(*args, check=False, **kw):
        return subprocess.run([str(bin_dir / "tandemctl"), *map(str, args)], capture_output=True, text=True,
                              timeout=60, check=check, **kw)
    return run


@pytest.fixture(scope="session")
def root() -> pathlib.Path:
    return ROOT


@pytest.fixture
def topo():
    """A fresh namespace topology (routers a and b, client c, a bridge), removed afterwards."""
    t = Topology()
    yield t
    t.close()
