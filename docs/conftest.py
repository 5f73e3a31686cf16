"""Run every Python block of the documentation pages in this folder as a test (Sybil)."""

from sybil import Sybil
from sybil.parsers.markdown import PythonCodeBlockParser, SkipParser

pytest_collect_file = Sybil(parsers=[SkipParser(), PythonCodeBlockParser()], patterns=["*.md"]).pytest()
