"""Sources: turn a dataset's on-disk layout into a validated manifest (a list of
:class:`~voca_data.records.VideoRecord`).

>>> from voca_data.sources import load
>>> records = load("lavdf", "/data/LAV-DF", splits="test", max_videos=10)    # doctest: +SKIP
>>> records = load("ffdv", "/data/multi-ffdv", skip_invalid=True)            # doctest: +SKIP
>>> records.problems                                                         # doctest: +SKIP

Sources are found through the ``voca.sources`` entry-point group (:data:`SOURCE_GROUP`); voca
registers ``lavdf`` (:mod:`.lavdf`), ``ffdv`` (:mod:`.ffdv`) and ``folder`` (:mod:`.folder`) in
its pyproject.toml. Every source takes the selection options ``splits``, ``start``, ``count``,
``max_videos`` and ``skip_invalid`` / ``check_files``, and returns
:class:`~voca_data.sources.base.Records` (a list with ``.problems``, ``.manifest``, ``.source``,
``.root``). A malformed manifest raises :class:`~voca_data.records.ManifestError` listing every
problem before anything is written.

Adding a source: write a function ``load_x(root, *, splits=None, start=0, count=None,
max_videos=None, skip_invalid=False, check_files=True, **own_options) -> Records`` that parses the
layout into :class:`~voca_data.sources.base.Candidate` objects and returns
:func:`~voca_data.sources.base.finish`\\ (...), and declare it in your package's pyproject.toml::

    [project.entry-points."voca.sources"]
    x = "my_package.layout:load_x"

``load("x", root)`` and ``voca extract x ROOT OUT.zarr`` then work without editing voca (see
docs/datasets.md). :func:`register` adds a loader for this process only (tests, notebooks).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .base import Problem, Records

__all__ = [
    "Problem",
    "Records",
    "SOURCE_GROUP",
    "available",
    "load",
    "options_of",
    "register",
    "select",
]

#: the entry-point group of the sources: NAME = "package.module:load_function"
SOURCE_GROUP = "voca.sources"

SourceLoader = Callable[..., Records]
# loaders registered in this process with register(), and entry points already loaded
_REGISTRY: dict[str, SourceLoader] = {}
_LOADED: dict[str, SourceLoader] = {}


def _entry_points() -> dict[str, Any]:
    from importlib.metadata import entry_points

    found: dict[str, Any] = {}
    for ep in entry_points(group=SOURCE_GROUP):
        found.setdefault(ep.name, ep)
    return found


def register(name: str) -> Callable[[SourceLoader], SourceLoader]:
    """Decorator registering a source loader under ``name`` for this process
    (``load(name, root, **options)``); a package registers its sources for good through the
    ``voca.sources`` entry-point group instead.

    >>> @register("my-layout")                                  # doctest: +SKIP
    ... def load_mine(root, *, splits=None, start=0, count=None, max_videos=None,
    ...               skip_invalid=False, check_files=True): ...
    """
    if not name or not isinstance(name, str):
        raise ValueError(f"a source name must be a non-empty string, not {name!r}")

    def decorate(func: SourceLoader) -> SourceLoader:
        existing = _REGISTRY.get(name)
        if existing is None and name in _entry_points():
            raise ValueError(f"source {name!r} is already installed (entry point "
                             f"{_entry_points()[name].value}); choose another name")
        if existing is not None and existing is not func and \
                (existing.__module__, existing.__qualname__) != (func.__module__, func.__qualname__):
            raise ValueError(f"source {name!r} is already registered ({existing.__module__}.{existing.__qualname__})")
        _REGISTRY[name] = func
        return func

    return decorate


def available() -> list[str]:
    """Names of the installed sources (entry points) and those registered in this process;
    nothing is imported.

    >>> {"lavdf", "ffdv", "folder"} <= set(available())
    True
    """
    return sorted(set(_entry_points()) | set(_REGISTRY))


def _loader(kind: str) -> SourceLoader:
    if kind in _REGISTRY:
        return _REGISTRY[kind]
    if kind in _LOADED:
        return _LOADED[kind]
    ep = _entry_points().get(kind)
    if ep is None:
        raise ValueError(f"unknown source {kind!r}; available: {', '.join(available())} (a source "
                         f"is installed through the {SOURCE_GROUP!r} entry-point group, "
                         "docs/datasets.md)")
    try:
        loader = ep.load()
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"source {kind!r} cannot be loaded from its entry point {ep.value!r} "
                         f"({type(exc).__name__}: {exc}); reinstall the package that provides it")
    if not callable(loader):
        raise ValueError(f"source {kind!r}: entry point {ep.value!r} is not a function "
                         "load(root, *, splits, start, count, max_videos, ...) -> Records")
    _LOADED[kind] = loader
    return loader


def options_of(kind: str) -> list[str]:
    """The keyword options source ``kind`` accepts.

    >>> "metadata" in options_of("lavdf")
    True
    """
    params = inspect.signature(_loader(kind)).parameters
    return [n for n, p in params.items() if p.kind == inspect.Parameter.KEYWORD_ONLY]


def load(kind: str, root: str | Path, **options: Any) -> Records:
    """The validated records of the ``kind`` dataset at ``root``.

    Options common to all sources: ``splits`` (names, or ``"train,dev"``), ``start``, ``count``,
    ``max_videos`` (selection, in that order), ``skip_invalid`` (leave bad records out, reported in
    ``.problems``, instead of raising :class:`~voca_data.records.ManifestError`), ``check_files``
    (default True: selected files must exist inside the root). Source options: lavdf ``metadata``,
    ``fps``, ``period_tolerance``; ffdv ``label_files``, ``split_names``; folder ``ratios``,
    ``seed``, ``split_names``, ``period_tolerance``.

    >>> records = load("folder", "clips", ratios=(0.8, 0.1, 0.1))     # doctest: +SKIP
    """
    loader = _loader(kind)
    accepted = options_of(kind)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"source {kind!r} does not take option(s) {unknown}; it takes {accepted}")
    return loader(root, **options)


from .select import select  # noqa: E402
