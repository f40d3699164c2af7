"""Progress bars of long commands: a live tqdm bar on a terminal, a plain line every
:data:`PLAIN_INTERVAL` seconds when stderr is a file or a pipe (a log, CI), nothing when disabled.

Call sites use :func:`tqdm` exactly like ``tqdm.tqdm``; ``voca -q`` and ``--no-progress`` reach
them as ``progress=False`` (``disable=True``).

Example
-------
>>> from voca_data.progress import tqdm
>>> for block in tqdm(range(3), desc="check", unit="block", disable=False):  # doctest: +SKIP
...     pass

In ``make demo > log 2>&1`` the bar above writes whole lines such as
``check: 100%|##########| 3/3 [00:00<00:00, 2e+3block/s]``: the first one, one per
:data:`PLAIN_INTERVAL` seconds at most, and the final state.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from typing import Any, TextIO

__all__ = ["PLAIN_INTERVAL", "is_terminal", "tqdm"]

#: seconds between two lines of a bar when stderr is not a terminal
PLAIN_INTERVAL = 10.0

# tqdm redraws a bar in place with carriage returns and cursor-up escapes
_REDRAW = re.compile(r"\r|\n|\x1b\[A")


class _Lines:
    """A text stream for tqdm that writes each redraw of a bar as one whole line."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, text: str) -> int:
        for part in _REDRAW.split(text):
            part = part.strip()
            if part:
                self.stream.write(part + "\n")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def is_terminal(stream: Any) -> bool:
    """True when ``stream`` is an interactive terminal (a bar may redraw in place there)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def tqdm(iterable: Iterable | None = None, *args: Any, disable: bool | None = False,
         file: TextIO | None = None, **kwargs: Any) -> Any:
    """A ``tqdm.tqdm`` bar that suits where stderr (or ``file``) goes.

    On a terminal: tqdm as given. Elsewhere (a log file, a pipe, CI): whole lines, at most one
    per :data:`PLAIN_INTERVAL` seconds plus the first and the final state, ASCII only.
    ``disable=True``: no output at all (``disable=None`` counts as enabled).

    >>> import io
    >>> log = io.StringIO()
    >>> for _ in tqdm(range(10_000), desc="blocks", file=log):
    ...     pass
    >>> len(log.getvalue().splitlines()) <= 3
    True
    """
    from tqdm import tqdm as _tqdm

    stream = file if file is not None else sys.stderr
    if not disable and not is_terminal(stream):
        kwargs.update(mininterval=max(float(kwargs.get("mininterval") or 0.0), PLAIN_INTERVAL),
                      maxinterval=max(float(kwargs.get("maxinterval") or 0.0), PLAIN_INTERVAL),
                      dynamic_ncols=False, ascii=True, leave=True, position=None)
        kwargs.setdefault("ncols", 100)
        stream = _Lines(stream)
    return _tqdm(iterable, *args, disable=bool(disable), file=stream, **kwargs)
