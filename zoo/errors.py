"""Errors a zoo user can cause and fix (bad arguments or input files); the `medzoo` command shows them as one line."""
from __future__ import annotations


class InputError(ValueError):
    """An argument or input does not fit the model: wrong label, shape, count or file."""


class WrongTaskError(InputError, TypeError):
    """The model does the other task (generate vs translate), or the images have the wrong dtype."""
