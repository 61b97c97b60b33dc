"""Telex: a self-hostable communication platform, wire-compatible with Azure Communication Services."""

__version__ = "0.1.0"
__all__ = ["__version__"]
