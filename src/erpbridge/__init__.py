"""erpbridge: a self-hosted CRM <-> ERP integration hub."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("erpbridge")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
