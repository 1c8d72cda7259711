"""The one family of errors that the command-line tools report as a single line: the user's mistakes.

A bad path, shape, dtype, key, flag or config value raises a `UserError` (or a subclass) whose message says what
was expected. Anything else is a programming error and keeps its traceback.
"""
from __future__ import annotations


class UserError(ValueError):
  """Input the user gave (file, array, flag, config) is not what was expected; the message says what was."""


class InputNotFound(UserError, FileNotFoundError):
  """A file or folder the user named does not exist, or lacks a file it must hold."""


class WrongDtype(UserError, TypeError):
  """An array has a dtype the function cannot take."""


class MissingKey(UserError, KeyError):
  """A file lacks an array or field it must hold (KeyError's quoting is undone for a readable message)."""

  def __str__(self):
    return str(self.args[0]) if self.args else ''
