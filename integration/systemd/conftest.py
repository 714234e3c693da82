"""integration/systemd: see test_systemd_service.py. Makes containers.py importable."""
import sys
import pathlib

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
