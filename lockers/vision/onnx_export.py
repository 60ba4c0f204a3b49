"""Export a torch network to ONNX, atomically and checked: the one way every model is exported.

The file is written beside its destination, checked (the caller compares it with torch), and
only then renamed into place, so a failed or disagreeing export never leaves a file that a later
start would trust. torch is imported here only when an export runs.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import torch

T = TypeVar("T")


def export_checked(
    network: torch.nn.Module,
    example: torch.Tensor,
    path: Path,
    *,
    input_name: str,
    output_names: Sequence[str],
    dynamic_axes: dict[str, dict[int, str]],
    check: Callable[[Path], T],
) -> T:
    """Export ``network`` (in eval mode) for inputs shaped like ``example`` to ``path``.

    ``check(tmp)`` runs on the written file before it is renamed to ``path``; it raises when
    the export is not usable, and what it returns is returned.
    """
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        options: dict[str, Any] = {"opset_version": 17, "dynamo": False}
        with warnings.catch_warnings(), contextlib.redirect_stdout(None):
            warnings.simplefilter("ignore")  # the exporter's own deprecation chatter
            torch.onnx.export(
                network.eval(),
                (example,),
                str(tmp),
                input_names=[input_name],
                output_names=list(output_names),
                dynamic_axes=dynamic_axes,
                **options,
            )
        result = check(tmp)
        os.replace(tmp, path)
        return result
    finally:
        tmp.unlink(missing_ok=True)
