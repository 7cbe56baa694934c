"""Finds the user's source line for error messages and graph annotations."""
import linecache
import os
import sys

# Frames from graphjit's own folders are skipped when looking for the user's line; each
# subpackage registers its folder on import (wherever it is installed).
_OWN_DIRS = (os.path.dirname(os.path.abspath(__file__)) + os.sep,)


def add_package_dir(path):
    """Registers another folder of graphjit's own code (done by each subpackage, wherever installed)."""
    global _OWN_DIRS
    folder = os.path.dirname(os.path.abspath(path)) + os.sep
    if folder not in _OWN_DIRS:
        _OWN_DIRS = _OWN_DIRS + (folder,)


class Location:
    __slots__ = ("filename", "lineno", "function")

    def __init__(self, filename, lineno, function):
        self.filename, self.lineno, self.function = filename, lineno, function

    def line(self):
        return linecache.getline(self.filename, self.lineno).strip()

    def __str__(self):
        text = self.line()
        where = f"{os.path.basename(self.filename)}:{self.lineno} in {self.function}"
        return f"{where}: {text}" if text else where


def user_location():
    """The innermost frame outside graphjit, or None."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_OWN_DIRS) and not filename.startswith("<frozen"):
            return Location(filename, frame.f_lineno, frame.f_code.co_name)
        frame = frame.f_back
    return None


def with_location(message, location=None):
    location = location or user_location()
    return f"{message}\n  at {location}" if location else message
