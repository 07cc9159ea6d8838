"""The binary's _frozen_importlib_external: importlib without imports from the file system.

CPython's (Lib/importlib/_bootstrap_external.py) installs the finders and loaders of source,
bytecode and extension files on sys.meta_path and sys.path_hooks. The static binary imports
only frozen and built-in modules (its sys.path is empty, it cannot load an extension), so the
interpreter's start need not build them: ~0.8 ms of CPU per start. The interpreter calls
_install() once, from importlib._bootstrap._install_external_importers; frozen and built-in
imports are _bootstrap's own and work as before.
"""


def _install(_bootstrap_module):
    """Install nothing: no path finder, no path hooks."""
