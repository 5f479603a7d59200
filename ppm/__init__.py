"""ppm: a polyglot build system and package manager."""

__version__ = "0.1.0"
