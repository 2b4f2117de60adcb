"""syncd: the platform-neutral order-sync daemon."""

__version__ = "0.1.0"
