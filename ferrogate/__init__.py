"""FerroGate: a self-hosted AI gateway and reverse proxy."""

__version__ = "0.1.0"
