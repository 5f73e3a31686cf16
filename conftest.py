"""Run every Python block of README.md as a test (Sybil), as docs/conftest.py does for the documentation."""

from sybil import Sybil
from sybil.parsers.markdown import PythonCodeBlockParser, SkipParser

pytest_collect_file = Sybil(parsers=[SkipParser(), PythonCodeBlockParser()], patterns=["README.md"]).pytest()
