"""The files of the kernel cache (``graphjit.compiler.cache``): directory safety, locks, manifests, eviction.

An entry with key K is ``gj_K.py`` (the generated source), Numba's files for it (``gj_K.<function>-<line>
.pyXY.nbi`` index and ``.N.nbc`` data, in ``__pycache__`` or under ``NUMBA_CACHE_DIR``) and ``gj_K.manifest``:
a JSON map of every other file of the entry to its SHA-256, written atomically, under the exclusive lock, once
the entry is complete (after Numba has written). A file is handed to Numba only if the manifest vouches for
its bytes; an entry without a manifest is unfinished (a writer died) and is rebuilt.
"""
import contextlib
import fcntl
import grp
import hashlib
import json
import os
import pwd
import stat
import sys
import time

from graphjit.compiler.atomic_file import write_atomically
from graphjit.tracer.errors import CacheError

PREFIX = "gj_"                  # every file of an entry starts with gj_<64 hex>
KEY_LEN = 64
LOCK_NAME = ".lock"
TMP_PREFIX = ".tmp-gj_"
MANIFEST_SUFFIX = ".manifest"
MANIFEST_FORMAT = 1
_NUMBA_TMP = ".tmp."            # Numba writes <file>.tmp.<uuid> and renames it


def module_path(directory, key):
    return os.path.join(directory, f"{PREFIX}{key}.py")


def manifest_path(directory, key):
    return os.path.join(directory, f"{PREFIX}{key}{MANIFEST_SUFFIX}")


# -------------------------------------------------------------------------------------------------- safety

def check_safe(directory):
    """Raises CacheError when another user could write to ``directory`` (we execute code from it), to one of
    Numba's folders for it, or could replace it through a parent. Like ssh's StrictModes: a directory must be
    ours (or root's), not world-writable, and group-writable only for a user-private group (the group named
    after us, with no other members); a parent may also be world-writable with the sticky bit (/tmp)."""
    for folder in [directory] + [d for d in numba_dirs(directory) if os.path.isdir(d)]:
        problem = _who_else_can_write(os.stat(folder))
        if problem:
            raise CacheError(_unsafe_message(directory, folder, problem))
    parent = os.path.dirname(directory)
    while True:
        st = os.stat(parent)
        if not (st.st_mode & stat.S_ISVTX):     # with the sticky bit, others cannot rename what is ours
            problem = _who_else_can_write(st)
            if problem:
                raise CacheError(_unsafe_message(directory, parent, problem + " (a parent directory)"))
        up = os.path.dirname(parent)
        if up == parent:
            return
        parent = up


def _who_else_can_write(st):
    uid = os.geteuid()
    if st.st_uid not in (uid, 0):
        return f"is owned by another user (uid {st.st_uid})"
    if st.st_mode & stat.S_IWOTH:
        return "is world-writable"
    if st.st_mode & stat.S_IWGRP and not _private_group(st.st_gid, uid):
        return f"is writable by group {_group_name(st.st_gid)}, which has other members"
    return None


def _private_group(gid, uid):
    try:
        name = pwd.getpwuid(uid).pw_name
        group = grp.getgrgid(gid)
    except KeyError:
        return False
    return group.gr_name == name and set(group.gr_mem) <= {name}


def _group_name(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _unsafe_message(directory, folder, problem):
    return (f"graphjit cache directory {directory} is not safe to load compiled code from: {folder} {problem}, "
            "so another user could plant code in it; the cache is bypassed (kernels compile in memory). Use a "
            "directory only you can write to (chmod go-w), set GRAPHJIT_CACHE_DIR to one, or GRAPHJIT_CACHE=0")


def writable(directory):
    """False for a directory we may read but not write (a read-only mount, or permissions)."""
    folders = [directory] + [d for d in numba_dirs(directory) if os.path.isdir(d)]
    return all(os.access(folder, os.W_OK) for folder in folders)


# --------------------------------------------------------------------------------------------------- locks

@contextlib.contextmanager
def flock(directory, exclusive, readonly=False):
    """The directory's lock. A fresh open file description per use, so it also excludes other threads of this
    process. Read-only: a shared lock on the existing lock file opened for reading (flock needs no write
    access), or none when there is no lock file to open (no graphjit writer has ever used the directory)."""
    path = os.path.join(directory, LOCK_NAME)
    if readonly:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            yield
            return
    else:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)                    # releases the lock


# --------------------------------------------------------------------------------------------------- files

def read_text(path):
    """The file's text; None if it does not exist; "" (differs from any source) if it cannot be read."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        return ""


def write_atomic(directory, path, data):
    payload = data.encode("utf-8") if isinstance(data, str) else data
    write_atomically(directory, lambda file: file.write(payload), path, tmp_prefix=TMP_PREFIX)


def touch(path):
    # LRU order is kept in the access time, set explicitly (noatime mounts do not matter). The modification
    # time is left alone: older Numba versions stamp their index with the source file's (mtime, size).
    with contextlib.suppress(OSError):     # evicted by another process meanwhile: nothing to order
        os.utime(path, ns=(time.time_ns(), os.stat(path).st_mtime_ns))


def unlink(path):
    with contextlib.suppress(OSError):     # gone already, or not ours to delete: leave it
        os.unlink(path)


def numba_dirs(directory):
    """Where Numba keeps the index/data files of modules in ``directory``."""
    dirs = [os.path.join(directory, "__pycache__")]
    numba_config = getattr(sys.modules.get("numba"), "config", None)
    user_dir = getattr(numba_config, "CACHE_DIR", None) if numba_config else os.environ.get("NUMBA_CACHE_DIR")
    if user_dir:
        # NUMBA_CACHE_DIR moves them to <dir>/<parent name>_<sha1 of the folder>, as numba.core.caching
        # (_CacheLocator.get_suitable_cache_subpath) computes it.
        digest = hashlib.sha1(directory.encode()).hexdigest()
        dirs.append(os.path.join(user_dir, f"{os.path.basename(directory)}_{digest}"))
    return dirs


# ----------------------------------------------------------------------------------------------- manifests

def sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


def entry_files(directory, key):
    """Every file of the entry but its manifest (and writers' temporary files)."""
    paths = [module_path(directory, key)]
    stem = f"{PREFIX}{key}."
    for folder in numba_dirs(directory):
        with contextlib.suppress(OSError):
            paths += [os.path.join(folder, n) for n in sorted(os.listdir(folder))
                      if n.startswith(stem) and _NUMBA_TMP not in n]
    return paths


def write_manifest(directory, key):
    """Hashes the entry's files as they are now. The caller holds the exclusive lock."""
    files = {}
    for path in entry_files(directory, key):
        with open(path, "rb") as f:
            files[os.path.relpath(path, directory)] = sha256_bytes(f.read())
    body = json.dumps({"format": MANIFEST_FORMAT, "key": key, "files": files}, indent=0, sort_keys=True)
    write_atomic(directory, manifest_path(directory, key), body)


def read_manifest(directory, key):
    """({absolute path: sha256}, None) or (None, what is wrong)."""
    try:
        with open(manifest_path(directory, key), "rb") as f:
            manifest = json.loads(f.read())
        files = manifest["files"]
        if manifest["format"] != MANIFEST_FORMAT or manifest["key"] != key or not isinstance(files, dict):
            return None, "its manifest belongs to another entry or format"
        return {os.path.normpath(os.path.join(directory, rel)): digest for rel, digest in files.items()}, None
    except FileNotFoundError:
        return None, "it has no manifest (unfinished: its writer may have died)"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, f"its manifest is unreadable ({type(exc).__name__})"


def verify(files, directory, key, check_unlisted):
    """None if every listed file has its recorded hash (and, with ``check_unlisted``, no unlisted Numba file
    of the entry exists), else what is wrong."""
    for path, digest in files.items():
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as exc:
            return f"{os.path.basename(path)} is missing or unreadable ({exc.strerror or exc})"
        if sha256_bytes(data) != digest:
            return f"{os.path.basename(path)} does not match its manifest hash (truncated, garbled or replaced)"
    if check_unlisted:
        extra = set(entry_files(directory, key)) - set(files)
        if extra:
            return f"{os.path.basename(min(extra))} is not in its manifest"
    return None


# ------------------------------------------------------------------------------------------ scan and evict

def scan(directory):
    """key -> [LRU time, bytes, has module file, paths] for every entry, orphaned Numba files included."""
    entries = {}
    for folder in [directory] + numba_dirs(directory):
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            key = name[len(PREFIX):len(PREFIX) + KEY_LEN]
            path = os.path.join(folder, name)
            try:
                if not name.startswith(PREFIX) or len(key) != KEY_LEN:
                    continue
                st = os.stat(path)
            except OSError:
                continue
            entry = entries.setdefault(key, [0, 0, False, []])  # files without a module file are oldest
            entry[1] += st.st_size
            entry[3].append(path)
            if path == module_path(directory, key):
                entry[0], entry[2] = st.st_atime_ns, True
    return entries


def remove_entry(directory, key, entry=None):
    # The manifest goes first: an entry interrupted while being removed is then one without a manifest.
    unlink(manifest_path(directory, key))
    entry = entry or scan(directory).get(key, [0, 0, False, []])
    for path in entry[3]:
        unlink(path)


def evict(directory, keep, limit, log):
    entries = scan(directory)
    total = sum(entry[1] for entry in entries.values())
    for key, entry in sorted(entries.items(), key=lambda item: item[1][0]):
        if total <= limit:
            break
        if key != keep:                     # the entry just built stays even if it alone exceeds the cap
            remove_entry(directory, key, entry)
            total -= entry[1]
            log.debug("graphjit cache evicted %s (%d bytes)", key[:12], entry[1])
