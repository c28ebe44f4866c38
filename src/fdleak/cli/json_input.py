"""Reading a JSON file the user named (a saved report or snapshot): one line when it cannot be."""

from __future__ import annotations

from typing import Any

from fdleak.errors import InputError


def read_json(path: str, what: str, hint: str) -> Any:
    """The parsed document; InputError naming ``what`` was expected, with ``hint``, if not JSON."""
    import json

    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a directory, not {what}") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InputError(f"{path} is not JSON", hint) from None
