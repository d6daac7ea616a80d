"""Exceptions raised by the package's public calls."""

from __future__ import annotations


class XpanderError(Exception):
    """Base class of every error this package raises on purpose."""


class ModuleException(XpanderError):
    """An xpander API call failed: ``status_code`` is the HTTP status (500 for transport errors).

    Same name and fields as xpander-sdk's ``ModuleException``, so handlers written for one catch the other.
    """

    def __init__(self, status_code: int, description: str) -> None:
        self.status_code = status_code
        self.description = description
        super().__init__(f"{status_code}: {description}")


class FrameworkNotInstalled(XpanderError, ImportError):
    """The agent's framework is not importable; the message names the pip extra to install."""


class UnsupportedFramework(XpanderError, ValueError):
    """The agent's ``framework`` names a framework this package has no builder for."""
