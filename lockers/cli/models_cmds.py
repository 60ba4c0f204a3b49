"""``lockers models ...``: download, import and verify the embedding weights."""

from __future__ import annotations

import typer

app = typer.Typer(help="Embedding model weights: download, import, verify.", no_args_is_help=True)
