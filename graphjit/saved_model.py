"""``gj.saved_model``: ``save(obj, path, signatures=None)`` and ``load(path)``, as ``tf.saved_model``; the format
and its checks are ``graphjit.runtime.saved_model``'s."""
from graphjit.runtime.saved_model import LoadedFunction, LoadedModel, load, save  # noqa: F401

__all__ = ["save", "load", "LoadedModel", "LoadedFunction"]
