"""Rendering: plain YAML/JSON for scripts (``-o``), rich tables for people.

Machine output never contains markup or colour so it can be piped into ``kubectl apply -f -`` or
``jq``; tables go through rich, which falls back to plain text when stdout is not a terminal.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

__all__ = ["dump_json", "dump_yaml_docs", "print_table", "render_table"]


def dump_yaml_docs(docs: Iterable[dict[str, Any]]) -> str:
    """Several objects as one multi-document YAML stream."""
    return "---\n".join(yaml.safe_dump(d, sort_keys=False, default_flow_style=False) for d in docs)


def dump_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=False)


def render_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[str]]) -> Table:
    table = Table(title=title, box=None, header_style="bold", title_justify="left", pad_edge=False)
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table


def print_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """Print a table to click's stdout (so CliRunner captures it)."""
    console = Console(file=sys.stdout, width=160, soft_wrap=True)
    console.print(render_table(title, columns, rows))
