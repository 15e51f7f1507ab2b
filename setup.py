"""Build the project: everything is declared in pyproject.toml, except this.

The order book (``orderbook/``) is compiled with mypyc into a C extension,
from the same typed source that runs interpreted: its classes become C
structs and its hot paths machine code, which is what puts the book ahead
of the bare reference loop (``make bench``). ``pip install`` (editable or
not) builds it; ``make native`` rebuilds it in place after a source change
(the Makefile does that by itself before ``test``, ``bench`` and ``run``).

``ORDERBOOK_PURE=1`` builds without the extension, and the book runs as
plain Python (slower: the README's "The compiled order book" gives the
measured figures); ``python -c "import orderbook;
print(orderbook.COMPILED)"`` tells which one is in use.
"""

from __future__ import annotations

import os

from setuptools import setup

# Every module of the package but __init__ (which checks the build is current).
NATIVE_MODULES = [
    "orderbook/book.py",
    "orderbook/checksum.py",
    "orderbook/commands.py",
    "orderbook/events.py",
    "orderbook/ladder.py",
    "orderbook/level.py",
    "orderbook/rules.py",
]


def ext_modules() -> list[object]:
    """The mypyc extension, or none when ORDERBOOK_PURE is set."""
    if os.environ.get("ORDERBOOK_PURE"):
        return []
    from mypyc.build import mypycify

    # One group with its shared library inside the package
    # (orderbook/_native__mypyc...so), so nothing lands at the top level.
    return list(mypycify(NATIVE_MODULES, group_name="orderbook._native", opt_level="3"))


setup(ext_modules=ext_modules())
