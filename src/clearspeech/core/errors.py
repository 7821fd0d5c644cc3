"""The one base class of the problems a user can fix: their data, params, files or network.

Stages and the command line turn a :class:`UserError` into one line naming the file and the
problem (no traceback); anything else is a bug and keeps its traceback. Each library error also
keeps its own built-in base (``ValueError``, ``RuntimeError``, ...), so callers that catch those
still work. This module imports nothing, so catching it costs nothing.
"""


class UserError(Exception):
    """A problem with the user's input (data, params, files, network), worth one clear line."""
