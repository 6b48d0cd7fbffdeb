"""hostbook: capture every layer of a Linux host into a manifest and rebuild it."""

__version__ = "0.1.0"
