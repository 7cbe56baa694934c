"""Atomic, durable file writes, shared by the kernel cache (compiler) and checkpoints (runtime).

It lives in compiler/ because that is the lowest layer both users may import (runtime imports compiler,
never the reverse), and tracer/ holds tracing, not file I/O."""
import contextlib
import os
import tempfile


def fsync_directory(directory):
    # Makes a rename durable; some platforms cannot open a directory, and then there is nothing to do.
    try:
        fd = os.open(directory or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomically(directory, write, final_path, tmp_prefix, tmp_suffix=""):
    """Calls ``write(file)`` on a temporary file in ``directory``, flushes and fsyncs it, renames it to
    ``final_path`` and fsyncs the directory; returns the final path.

    Readers see the old file or the complete new one, never a partial write. ``final_path`` is a path, or a
    function of the finished temporary file's path (for names that depend on the content)."""
    fd, tmp = tempfile.mkstemp(dir=directory or ".", prefix=tmp_prefix, suffix=tmp_suffix)
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        path = final_path(tmp) if callable(final_path) else final_path
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):     # never created, or gone already
            os.unlink(tmp)
        raise
    fsync_directory(directory)
    return path
