"""The base of errors whose message says all a user needs: `asicrc` prints it as one line, without a traceback."""

from __future__ import annotations


class UserError(Exception):
    """Mixed into an error class (``class ConfigError(UserError, ValueError)``) to mark it as the user's to read:
    the CLI catches it by type."""
