"""FerroGate: a self-hosted AI gateway and reverse proxy."""

from ferrogate import compiled as _compiled

__version__ = "0.1.0"

# Before any hot-path module is imported: load them all from source when the
# mypyc build is stale or FERROGATE_PURE=1 (see ferrogate/compiled.py).
_compiled.install()
