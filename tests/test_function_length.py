"""The house rule "every function a page or less": no function in ``jaxnn/`` has more than
``MAX_LINES`` lines of code (its lines, nested functions included, less blank lines, comment-only
lines and its docstring)."""

from __future__ import annotations

import ast
import pathlib

import jaxnn

MAX_LINES = 60
ROOT = pathlib.Path(jaxnn.__file__).parent


def code_lines(lines: list[str], node: ast.AST) -> int:
    """Lines of code of the function ``node`` in a file of ``lines``."""
    body = node.body
    doc = set()
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        doc = set(range(body[0].lineno, body[0].end_lineno + 1))
    return sum(1 for i in range(node.lineno, node.end_lineno + 1)
               if i not in doc and lines[i - 1].strip() and not lines[i - 1].strip().startswith("#"))


def long_functions(root: pathlib.Path = ROOT, limit: int = MAX_LINES) -> list[str]:
    out = []
    for path in sorted(root.rglob("*.py")):
        src = path.read_text()
        lines = src.split("\n")
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = code_lines(lines, node)
                if n > limit:
                    out.append(f"{path.relative_to(root.parent)}:{node.lineno} {node.name}: {n} lines of code")
    return out


def test_no_function_over_a_page():
    assert long_functions() == [], f"functions over {MAX_LINES} lines of code (split them into named pieces)"


def test_the_count_skips_docstrings_comments_and_blank_lines(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES - 1))  # with the def line: MAX_LINES
    (tmp_path / "ok.py").write_text(f'def f():\n    """Doc.\n\n    More doc.\n    """\n    # a comment\n\n{body}\n')
    assert long_functions(tmp_path, MAX_LINES) == []
    (tmp_path / "long.py").write_text(f"def g():\n{body}\n    return 0\n")  # one line more
    assert long_functions(tmp_path, MAX_LINES) != []
