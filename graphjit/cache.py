"""graphjit.cache: the persistent compile cache of generated kernels (see ``graphjit.compiler.cache``).

    python -m graphjit.cache info     # directory, entries, bytes, whether it is enabled
    python -m graphjit.cache clear    # removes every entry

Configuration: GRAPHJIT_CACHE_DIR, GRAPHJIT_CACHE=0 (disable), GRAPHJIT_CACHE_MAX_BYTES.

The cache holds machine code that graphjit loads and runs, so a directory that another user can write to
(owned by another user, world-writable, or writable by a group with other members, or inside such a parent)
is refused: one warning, and kernels compile in memory. Every entry's files are checked against the SHA-256
hashes of its manifest before Numba reads them. A read-only directory is read, never written.
"""
import argparse
import os
import sys

from graphjit.compiler.cache import (  # noqa: F401
    DEFAULT_MAX_BYTES, GENERATOR_VERSION, CacheInfo, cache_dir, cache_info, clear, enabled, load_module,
    max_bytes, safety_problem)

__all__ = ["CacheInfo", "cache_dir", "cache_info", "clear", "enabled", "load_module", "max_bytes", "safety_problem"]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m graphjit.cache", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["info", "clear"])
    args = parser.parse_args(argv)
    from graphjit.errors import GraphjitError
    try:
        if args.command == "clear":
            removed = clear()
            print(f"removed {removed} entries from {cache_dir()}")
        info = cache_info()
        print(f"directory: {info.directory}")
        print(f"enabled: {info.enabled}")
        print(f"entries: {info.entries}")
        print(f"bytes: {info.bytes}")
        print(f"max_bytes: {max_bytes()}")
        problem = safety_problem()
        if problem:
            print(f"safety: REFUSED: {problem}")
        else:
            print("safety: ok (only you or root can write to it; every entry is checked against the SHA-256 "
                  "hashes in its manifest before it is loaded)")
        if os.path.isdir(info.directory):
            print(f"writable: {os.access(info.directory, os.W_OK)}")
    except (GraphjitError, OSError) as exc:
        print(f"graphjit.cache: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
