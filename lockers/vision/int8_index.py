"""An int8 copy of a large template gallery for a fast first pass with a proven error bound.

Scoring a probe against 100k float32 templates reads 205 MB and is bound by memory bandwidth
(about 16 ms on a small CPU). The int8 copy is a quarter of that, multiplied by ONNX Runtime's
pre-packed integer GEMM (exact integer arithmetic, about 4 ms). Every approximate score comes
with a bound on its error, so the matcher can rescore, in float32, only the rows that could
still be among the two best identities: the final scores and decisions are exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

_LEVELS = 127.0
# The probe uses 7 bits (|q| <= 63, stored as uint8 around 64). ONNX Runtime's u8 x s8 GEMM on
# AVX2 (vpmaddubsw) adds pairs of products in saturating int16: with a full 8-bit probe every
# row of a 512-d gallery came out wrong (measured), and the first pass then dropped the true
# best identity. With u8 <= 127 a pair is at most 2 * 127 * 127 = 32258 and stays exact, at
# u8 x s8 speed (u8 x u8 is exact too but 20% slower). The bound below accounts for the
# coarser probe; _check_exact proves the integers on this CPU.
_PROBE_LEVELS = 63.0
_PROBE_ZERO_POINT = 64


class Int8IndexError(RuntimeError):
    """ONNX Runtime's integer GEMM did not give the exact integer dot products on this CPU."""


@dataclass(frozen=True)
class QuantisedRows:
    """Templates quantised row by row, with each row's terms of the error bound.

    Each row is quantised on its own, so rows quantised one rental at a time (as the matcher
    does when its gallery changes) are the very rows a quantisation of the whole gallery gives.
    """

    values: npt.NDArray[np.int8]  # (n, d)
    inv_row_scale: npt.NDArray[np.float32]  # (n,): float units per int unit
    bound_u: npt.NDArray[np.float64]  # (n,): see Int8Index.scores
    bound_v: npt.NDArray[np.float64]  # (n,)


def quantise(matrix: npt.NDArray[np.float32]) -> QuantisedRows:
    """Per-row symmetric int8 quantisation of ``(n, d)`` unit-norm templates."""
    dim = matrix.shape[1]
    peak = np.maximum(np.abs(matrix).max(axis=1), 1e-12)
    row_scale = _LEVELS / peak.astype(np.float64)  # int units per float unit
    quantised = np.clip(np.rint(matrix * row_scale[:, None]), -127, 127).astype(np.int8)
    row_l1 = np.abs(quantised).sum(axis=1, dtype=np.int64) / row_scale
    return QuantisedRows(
        values=quantised,
        inv_row_scale=(1.0 / row_scale).astype(np.float32),
        bound_u=0.5 * row_l1 + 0.25 * dim / row_scale,
        bound_v=0.5 / row_scale,
    )


class Int8Index:
    """Per-row symmetric int8 quantisation of unit-norm templates, scored on ONNX Runtime.

    Args:
        gallery: ``(n, d)`` float32 templates (rows of norm 1), or the same already quantised
            by :func:`quantise`.
    """

    def __init__(self, gallery: npt.NDArray[np.float32] | QuantisedRows) -> None:
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper

        rows_q = gallery if isinstance(gallery, QuantisedRows) else quantise(gallery)
        quantised = rows_q.values
        rows, dim = quantised.shape
        self._inv_row_scale = np.array(rows_q.inv_row_scale, dtype=np.float32)
        # Worst row of the error bound (see scores()): one scalar keeps the query path short.
        self._bound_u = float(np.max(rows_q.bound_u))
        self._bound_v = float(np.max(rows_q.bound_v))
        graph = helper.make_graph(
            [
                helper.make_node(
                    "MatMulInteger",
                    ["probe", "gallery", "zero_point"],
                    ["dots"],
                )
            ],
            "int8_gallery",
            [helper.make_tensor_value_info("probe", TensorProto.UINT8, [1, dim])],
            [helper.make_tensor_value_info("dots", TensorProto.INT32, [1, rows])],
            [
                numpy_helper.from_array(np.ascontiguousarray(quantised.T), "gallery"),
                numpy_helper.from_array(np.array(_PROBE_ZERO_POINT, np.uint8), "zero_point"),
            ],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        model.ir_version = 8
        options = ort.SessionOptions()
        # One thread: the product is memory bound and a second thread only adds contention.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        self.rows, self.dim = rows, dim
        self._check_exact(quantised)

    def _check_exact(self, quantised: npt.NDArray[np.int8]) -> None:
        """Compare the GEMM with numpy's integer product on the worst probes for saturation.

        A probe at full scale with the signs of a gallery row makes every pair of products as
        large as it can be; the bound in :meth:`scores` holds only if the integers are exact.
        """
        peak = int(_PROBE_LEVELS)
        probes = np.where(quantised[: min(4, self.rows)] >= 0, peak, -peak)
        # The exact integer products, from one float GEMM: every partial sum is an integer
        # of magnitude <= 127 * 63 * dim, exact in float32 below 2**24 (dim <= 2096), else in
        # float64. int64 matmuls (no BLAS) made this check most of a rebuild's time.
        exact_type = np.float32 if 127 * peak * self.dim < 2**24 else np.float64
        expected_all = quantised.astype(exact_type) @ probes.T.astype(exact_type)
        for probe, expected in zip(probes, expected_all.T, strict=True):
            got = self._dots(probe)
            if not np.array_equal(got, expected.astype(np.int64)):
                raise Int8IndexError(
                    f"{int((got != expected).sum())} of {self.rows} integer dot products wrong"
                )

    def _dots(self, q_probe: npt.NDArray[np.integer] | npt.NDArray[np.floating]) -> npt.NDArray:
        shifted = (np.asarray(q_probe) + _PROBE_ZERO_POINT).astype(np.uint8)[None]
        return self._session.run(None, {"probe": shifted})[0][0]

    def scores(self, probe: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.float32], float]:
        """Approximate cosine scores of a unit ``probe`` and one bound on every score's error.

        Returns:
            ``(approx, bound)``: ``approx`` of shape ``(n,)`` with ``|exact - approx| <= bound``
            for every row.
        """
        probe_scale = _PROBE_LEVELS / max(float(np.abs(probe).max()), 1e-12)
        q_probe = np.clip(np.rint(probe * probe_scale), -_PROBE_LEVELS, _PROBE_LEVELS)
        dots = self._dots(q_probe)
        approx = dots.astype(np.float32)
        approx *= self._inv_row_scale
        approx *= np.float32(1.0 / probe_scale)
        # x = qx/sx + ex, p = qp/sp + ep with |ex| <= 0.5/sx, |ep| <= 0.5/sp per component:
        # |x.p - qx.qp/(sx sp)| <= |qx/sx|_1 * 0.5/sp + |qp/sp|_1 * 0.5/sx + d * 0.25/(sx sp).
        probe_l1 = float(np.abs(q_probe).sum()) / probe_scale
        bound = self._bound_u / probe_scale + self._bound_v * probe_l1
        # Slack for float32 rounding of approx (scores are <= 1 in magnitude).
        return approx, bound * (1 + 1e-6) + 1e-5
