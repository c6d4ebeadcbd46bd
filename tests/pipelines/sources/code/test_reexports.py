"""Re-exports followed to the defining module (reexports.py), from syntax only."""

from __future__ import annotations

import ast
import textwrap

from pipelines.sources.code.reexports import ModuleNames, alias_table, module_names, resolve_link


def names(module: str, code: str, package: bool = False) -> ModuleNames:
    return module_names(ast.parse(textwrap.dedent(code)), module, package)


def test_all_forms() -> None:
    assert names("m", "__all__ = ['a', 'b']\n__all__ += ('c',)\n__all__.extend(['d'])\n__all__.append('e')\n").all == (
        "a", "b", "c", "d", "e")
    assert names("m", "from .x import __all__ as _x\n__all__ = ['a'] + _x\n").all is None  # not a literal
    assert names("m", "__all__ = ['a']\n__all__ += other\n").all is None
    assert names("m", "def f():\n    __all__ = ['local']\n").all is None  # only the top level counts
    got = names("pkg", """\
        try:
            from .fast import speedy
        except ImportError:
            from .slow import speedy
        from . import sub
        from .more import *
        import os.path as osp
        X, (Y, *Z) = 1, (2, 3)
    """, package=True)
    assert got.imported == (("speedy", "pkg.fast", "speedy"), ("speedy", "pkg.slow", "speedy"), ("sub", "pkg", "sub"))
    assert got.star == ("pkg.more",) and {"X", "Y", "Z", "osp"} <= got.defined


def test_alias_table_follows_chains_and_honours_all() -> None:
    records = [
        names("pkg", "from .more import *\nfrom .recipes import *\nfrom .extra import twice as double\nfrom . import sub\n",
              package=True),
        names("pkg.more", "__all__ = ['chunked', 'Window']\ndef chunked(): pass\ndef hidden(): pass\nclass Window: pass\n"),
        names("pkg.recipes", "from .base import *\nfrom .more import chunked as _chunked\ndef pairwise(): pass\n"
                             "def _private(): pass\n"),
        names("pkg.base", "from .recipes import *\ndef inc(): pass\n"),  # a cycle of star imports
        names("pkg.extra", "def twice(): pass\n"),
        names("pkg.sub", "from numpy import array\nfrom ..pkg.more import chunked\n"),
    ]
    table = alias_table(records)
    assert table == {
        ("pkg", "chunked"): ("pkg.more", "chunked"), ("pkg", "Window"): ("pkg.more", "Window"),
        ("pkg", "pairwise"): ("pkg.recipes", "pairwise"), ("pkg", "inc"): ("pkg.base", "inc"),
        ("pkg", "double"): ("pkg.extra", "twice"),
        ("pkg.recipes", "_chunked"): ("pkg.more", "chunked"), ("pkg.recipes", "inc"): ("pkg.base", "inc"),
        ("pkg.base", "pairwise"): ("pkg.recipes", "pairwise"), ("pkg.sub", "chunked"): ("pkg.more", "chunked"),
    }  # no hidden (not in __all__), no _private, nothing outside the repository (numpy)
    assert resolve_link(table, "pkg", "Window.over") == ("pkg.more", "Window.over")
    assert resolve_link(table, "pkg", "chunked") == ("pkg.more", "chunked")
    assert resolve_link(table, "pkg.more", "chunked") == ("pkg.more", "chunked")
    assert resolve_link(table, "pkg", "hidden") == ("pkg", "hidden")


def test_a_cycle_of_explicit_imports_ends() -> None:
    records = [names("a", "from b import f\n"), names("b", "from a import f\n")]
    assert alias_table(records) == {}
