"""A Griffe extension for the API reference: jaxnn's docstrings written with Sphinx markup, read as Markdown.

jaxnn's docstrings cross-reference with Sphinx roles (``:func:`train```, ``:class:`~jaxnn.sweeps.Trainable```,
``:mod:``, ``:meth:``, ``:data:``, ``:attr:``) and introduce literal blocks with a trailing ``::``.  Markdown
knows neither, so before mkdocstrings renders a docstring this extension rewrites

* each role into an optional cross-reference: a link to the object's entry when the site documents it, plain
  code otherwise (never a warning: the docstrings may name internal helpers that have no page).  The name is
  resolved as Python would from where the docstring is (its class, its module, the package), so
  ``:func:`forward``` in ``jaxnn.mlp`` points at ``jaxnn.mlp.forward``; a leading ``~`` shows the last part only;
* a line ending in ``::`` (followed by a blank line and an indented block, which Markdown shows as code) into
  one ending in ``:``, as Sphinx prints it.

A class whose docstring is composed at run time (``__doc__ = "..." + shared_text``, as the estimators'
searches share their parameters' text) has no docstring that Griffe can read from the source; its docstring is
taken from the imported class.

It also checks the "Args:" sections: the docstrings document related parameters in one entry
(``lam, beta, rho: ...``), which Griffe's own check (``warn_unknown_params``, switched off in mkdocs.yml)
reports as unknown; here each name of an entry must be a parameter of the function, or the build warns
(and ``mkdocs build --strict`` fails).

Used from mkdocs.yml (``plugins: mkdocstrings: handlers: python: options: extensions``); the docstrings in the
source stay as they are, so ``help()`` shows them unchanged.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import re

import griffe

_log = logging.getLogger("griffe")

ROLE = re.compile(r":(?:py:)?(func|class|mod|meth|data|attr|obj|exc|const):`(~?)([^`<>]+?)`")
LITERAL_BLOCK = re.compile(r"::[ \t]*$", re.MULTILINE)


def _exists(collection, path: str) -> bool:
    try:
        collection[path]
    except Exception:  # noqa: BLE001  (KeyError, or an alias whose target is outside the package)
        return False
    return True


def _scopes(obj) -> list[str]:
    """Where a name in ``obj``'s docstring may live, innermost first: the object, its parents, the package."""
    scopes, cur = [], obj
    while cur is not None:
        scopes.append(cur.path)
        cur = cur.parent
    return scopes


def resolve(collection, obj, name: str) -> str:
    """The full path that ``name`` (as written in ``obj``'s docstring) names, or its best guess."""
    name = name.strip().removesuffix("()")
    candidates = [name] if name.split(".")[0] in collection.members else []
    candidates += [f"{scope}.{name}" for scope in _scopes(obj)]
    for path in candidates:
        if _exists(collection, path):
            return path
    return candidates[0] if candidates else name


def rewrite(text: str, collection, obj) -> str:
    """``text`` with Sphinx roles as optional cross-references and ``::`` literal-block markers as ``:``."""

    def role(match: re.Match) -> str:
        short, name = match.group(2), match.group(3).strip()
        title = name.split(".")[-1] if short else name
        return f'<autoref identifier="{resolve(collection, obj, name)}" optional>`{title}`</autoref>'

    return LITERAL_BLOCK.sub(":", ROLE.sub(role, text))


def runtime_docstring(obj) -> str | None:
    """The docstring of the imported ``obj`` when the source assigns ``__doc__`` (Griffe cannot evaluate it)."""
    if obj.docstring is not None or not obj.is_class or "__doc__" not in obj.members:
        return None
    value = importlib.import_module(obj.module.path)
    for part in obj.path[len(obj.module.path) + 1:].split("."):
        value = getattr(value, part)
    return inspect.cleandoc(value.__doc__) if value.__doc__ else None


def _walk(obj):
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _walk(member)


def unknown_params(func) -> list[str]:
    """The names in ``func``'s "Args:" entries (an entry may name several: ``a, b: ...``) it does not take."""
    if func.docstring is None:
        return []
    names = {p.name for p in func.parameters}
    unknown = []
    for section in griffe.parse_google(func.docstring, warnings=False):
        if section.kind is griffe.DocstringSectionKind.parameters:
            for item in section.value:
                unknown += [n for n in (n.strip().lstrip("*") for n in item.name.split(",")) if n not in names]
    return unknown


def _check_params(obj) -> None:
    func = obj.members.get("__init__") if obj.is_class else obj
    if func is None or not func.is_function or obj.docstring is None:
        return
    saved = func.docstring
    func.docstring = obj.docstring  # a class documents its __init__'s parameters
    try:
        for name in unknown_params(func):
            _log.warning("%s:%s: parameter %r of the docstring is not in the signature of %s",
                         obj.relative_filepath, obj.docstring.lineno, name, obj.path)
    finally:
        func.docstring = saved


class SphinxRoles(griffe.Extension):
    """Rewrite every docstring of a loaded package (see the module docstring)."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs) -> None:
        collection = loader.modules_collection
        for obj in _walk(pkg):
            if (doc := runtime_docstring(obj)) is not None:
                obj.docstring = griffe.Docstring(doc, lineno=obj.members["__doc__"].lineno, parent=obj)
            if obj.docstring is not None:
                obj.docstring.value = rewrite(obj.docstring.value, collection, obj)
            if obj.is_function or obj.is_class:
                _check_params(obj)
