"""Fixtures for the VM tests: a clean IPVS table around every test."""
import os

import pytest

from vmlib import run


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
