"""A griffe extension: Sphinx roles in docstrings (``:class:`~wsclient.Gap```)
read as inline code on the site, as they do in ``help()``."""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc):`~?([^`]+)`")


def _short(match: re.Match[str]) -> str:
    target = match[1]
    shown = target.rsplit(".", 1)[-1] if match[0].count("~") else target
    return f"`{shown}`"


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles before the docstrings are parsed."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _ROLE.sub(_short, obj.docstring.value)
