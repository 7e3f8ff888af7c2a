"""The research tests use the library's fixtures (tests/conftest.py, loaded here by path: both files are named
``conftest``) and helpers (tests/helpers.py, importable through ``pythonpath`` in setup.cfg)."""
import importlib.util
from pathlib import Path

_LIBRARY_CONFTEST = Path(__file__).resolve().parents[2] / 'tests' / 'conftest.py'
_spec = importlib.util.spec_from_file_location('basicsr_skt_tests_conftest', _LIBRARY_CONFTEST)
_library = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_library)  # also imports basicsr_skt before any test module imports basicsr

basicsr_warnings = _library.basicsr_warnings
shared_dir = _library.shared_dir
split = _library.split
