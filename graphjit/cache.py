"""graphjit.cache: the persistent compile cache of generated kernels (see ``graphjit.compiler.cache``).

    python -m graphjit.cache info     # directory, entries, bytes, whether it is enabled
    python -m graphjit.cache clear    # removes every entry

Configuration: GRAPHJIT_CACHE_DIR, GRAPHJIT_CACHE=0 (disable), GRAPHJIT_CACHE_MAX_BYTES.
"""
import argparse
import sys

from graphjit.compiler.cache import (  # noqa: F401
    DEFAULT_MAX_BYTES, GENERATOR_VERSION, CacheInfo, cache_dir, cache_info, clear, enabled, load_module,
    max_bytes)

__all__ = ["CacheInfo", "cache_dir", "cache_info", "clear", "enabled", "load_module", "max_bytes"]


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
    except (GraphjitError, OSError) as exc:
        print(f"graphjit.cache: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
