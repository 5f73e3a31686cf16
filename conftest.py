"""The suite's environment (no persistent compilation cache; XLA's quickest backend level), set before jaxnn is
imported, and README.md and every page of docs/ run as tests: Sybil parses each Markdown file and evaluates its
Python blocks in order in one namespace (a page's later blocks use its earlier ones).  A page is one test, so
pytest-xdist never splits a page's blocks across workers; a failure names the block's line."""

import os
from pathlib import Path

import pytest
from sybil import Sybil
from sybil.parsers.markdown import PythonCodeBlockParser, SkipParser

# The suite tests jaxnn's code, never programs compiled earlier on this machine: with jaxnn's persistent
# compilation cache on, a test could load an entry written by another checkout or jax build, or one cut
# short by an interrupted run, and would no longer measure what it compiles (tests counting compilations)
# or what the code now says. Turn it off before jaxnn is imported: here (the root conftest, loaded first,
# for the tests and the pages alike), and so in every pytest-xdist worker. tests/test_compilation_cache.py
# tests the cache in subprocesses with an environment of their own.
os.environ["JAXNN_COMPILATION_CACHE"] = "0"

# The suite compiles about a thousand small programs and runs most of them for milliseconds, so XLA:CPU's
# LLVM optimization of the machine code is most of its time. The tests check what the programs compute
# (XLA's HLO passes, which decide the arithmetic, run as always; float reassociation stays off as by
# default), not how fast their machine code runs, so the suite asks LLVM for its quickest level: on the 2-core
# CI machine `pytest -n 2` took 554 s instead of 846 s (tests/test_static_axes.py 14 s instead of 26 s). Benchmarks,
# experiments and users' programs keep XLA's default. An XLA_FLAGS that names a level keeps it (run the
# suite at XLA's default with XLA_FLAGS=--xla_backend_optimization_level=3); tests that start processes
# pass these flags on (tests/_helpers.py: xla_flags).
TEST_XLA_FLAGS = "--xla_backend_optimization_level=0"
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = " ".join(filter(None, [os.environ.get("XLA_FLAGS", ""), TEST_XLA_FLAGS]))

ROOT = Path(__file__).parent
PAGES = Sybil(parsers=[SkipParser(), PythonCodeBlockParser()])


class Page(pytest.Item):
    """One Markdown file's Python blocks (Sybil's parse and evaluate), run in order."""

    def __init__(self, *, document, **kw):
        super().__init__(**kw)
        self.document = document  # Sybil's parse of the page: its examples and their namespace

    def runtest(self):
        for example in self.document:
            try:
                example.evaluate()
            except Exception as e:
                raise BlockFailed(f"{self.path.relative_to(ROOT)}, the block at line {example.line}: "
                                  f"{type(e).__name__}: {e}") from e

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, BlockFailed):
            cause = pytest.ExceptionInfo.from_exception(excinfo.value.__cause__)
            return f"{excinfo.value}\n\n{cause.getrepr(style='short')}"
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, 0, f"{self.path.relative_to(ROOT)}: its Python blocks"


class BlockFailed(Exception):
    """A block of a page raised (its message names the page and the line)."""


class PageFile(pytest.File):
    def collect(self):
        document = PAGES.parse(self.path)
        if any(True for _ in document):  # a page without Python blocks is no test
            yield Page.from_parent(self, name="blocks", document=document)


def pytest_collect_file(file_path, parent):
    if file_path.suffix == ".md" and (file_path == ROOT / "README.md" or ROOT / "docs" in file_path.parents):
        return PageFile.from_parent(parent, path=file_path)
    return None
