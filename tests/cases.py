"""Collects the op cases of every family (each ``cases_<family>.py`` defines ``CASES``)."""
import importlib
import pathlib

ALL_CASES = []
for _path in sorted(pathlib.Path(__file__).parent.glob("cases_*.py")):
    ALL_CASES.extend(importlib.import_module(_path.stem).CASES)
