"""The one atomic-write helper: complete files or none, fsynced file and directory, no temp left behind."""
import os

import pytest

from graphjit.compiler import atomic_file


def test_writes_content_fsyncs_file_and_directory_and_names_by_content(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(atomic_file.os, "fsync", lambda fd: (synced.append(os.path.isdir(f"/proc/self/fd/{fd}")),
                                                              real_fsync(fd))[1])
    path = atomic_file.write_atomically(str(tmp_path), lambda f: f.write(b"abc"),
                                        lambda tmp: os.path.join(os.path.dirname(tmp), f"x-{os.path.getsize(tmp)}"),
                                        tmp_prefix=".t")
    assert path == str(tmp_path / "x-3") and (tmp_path / "x-3").read_bytes() == b"abc"
    assert synced == [False, True]  # the file first, then its directory
    assert sorted(os.listdir(tmp_path)) == ["x-3"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "f"
    target.write_bytes(b"old")

    def fail(file):
        file.write(b"part")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_file.write_atomically(str(tmp_path), fail, str(target), tmp_prefix=".t")
    assert target.read_bytes() == b"old" and sorted(os.listdir(tmp_path)) == ["f"]
