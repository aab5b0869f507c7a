"""Embeddings: recognise vector columns in the data,
decode packed blobs in bulk, plan their indexes.

pgvector's text form is a JSON array of numbers, so JSON-text embeddings go to Postgres as they
are and the server checks dimensions and finiteness (a bad row is isolated by bisection with
pgvector's own reason). Packed float blobs are decoded with numpy, a whole vector at a time.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # imported where blobs are decoded: a load without vector blobs never pays its ~25 MB
    import numpy as np

from cutover.values.coerce import Coercion, Reject, register

MIN_DIMS = 16  # fewer numbers than this is a coordinate pair or a small list, not an embedding
MAX_DIMS = 16_000  # pgvector's limit for a vector column
MAX_INDEX_DIMS = {"vector": 2_000, "halfvec": 4_000}  # HNSW and IVFFlat can index up to this many
PLAUSIBLE_ABS = 1e4  # decoded floats beyond this mean the blob is not in the format tried
BLOB_DTYPES = {"float32le": "<f4", "float32be": ">f4", "float64le": "<f8", "float64be": ">f8"}
DISTANCES = {"cosine": "cosine_ops", "l2": "l2_ops", "ip": "ip_ops"}
INDEX_METHODS = ("hnsw", "ivfflat", "none")
IVFFLAT_ROWS_PER_LIST = 1000  # pgvector: lists = rows / 1000 up to 1M rows …
IVFFLAT_SQRT_ABOVE = 1_000_000  # … and sqrt(rows) beyond


@dataclass(frozen=True)
class Detected:
    """A column recognised as embeddings: how many dimensions, stored how."""

    dims: int
    blob_format: str | None = None


def detect_text(
    samples: list[Any], min_len: int | None, max_len: int | None
) -> tuple[Detected | None, str | None]:
    """JSON arrays of finite numbers of one length → Detected; else (None, why not or None)."""
    if min_len is None or max_len is None or max_len < MIN_DIMS:
        return None, None
    texts = [s for s in samples if isinstance(s, str)]
    for text in texts:
        try:
            values = json.loads(text)
        except ValueError:
            return None, None
        if not isinstance(values, list) or not all(type(v) in (int, float) for v in values):
            return None, None
        if not all(math.isfinite(v) for v in values):
            return None, "some arrays hold NaN or Infinity, which pgvector refuses"
    if not texts:
        return None, None
    if min_len != max_len:
        return None, f"arrays of {min_len} to {max_len} numbers: a vector column needs one length"
    if max_len > MAX_DIMS:
        return None, f"{max_len} dimensions is over pgvector's limit of {MAX_DIMS}"
    return Detected(max_len), None


def detect_blob(
    samples: list[Any], min_len: int | None, max_len: int | None, preferred: str | None = None
) -> tuple[Detected | None, str | None]:
    """Packed floats of one length (float32 tried before float64) → Detected."""
    if min_len is None or max_len is None:
        return None, None
    blobs = [s for s in samples if isinstance(s, bytes)]
    if not blobs:
        return None, None
    import numpy as np

    formats = [preferred] if preferred else ["float32le", "float64le"]
    for fmt in formats:
        width = np.dtype(BLOB_DTYPES[fmt]).itemsize
        if min_len % width or max_len % width or max_len // width < MIN_DIMS:
            continue
        if all(
            _plausible(np.frombuffer(b, dtype=BLOB_DTYPES[fmt]))
            for b in blobs
            if len(b) % width == 0
        ):
            if min_len != max_len:
                return (
                    None,
                    f"blobs of {min_len // width} to {max_len // width} {fmt} values: a vector "
                    "column needs one length",
                )
            dims = max_len // width
            if dims > MAX_DIMS:
                return None, f"{dims} dimensions is over pgvector's limit of {MAX_DIMS}"
            return Detected(dims, fmt), None
    return None, None


def _plausible(values: np.ndarray[Any, Any]) -> bool:
    import numpy as np

    return (
        bool(values.size)
        and bool(np.all(np.isfinite(values)))
        and float(np.max(np.abs(values))) < PLAUSIBLE_ABS
    )


def vector_coercion(dims: int | None = None, blob_format: str | None = None, **_: Any) -> Coercion:
    """Blobs decoded in bulk to pgvector text; text passed through for the server to check."""
    dtype = BLOB_DTYPES.get(blob_format or "float32le")
    if dtype is None:
        from cutover.errors import UnknownChoiceError

        raise UnknownChoiceError("blob_format", str(blob_format), list(BLOB_DTYPES))
    import numpy as np

    width = np.dtype(dtype).itemsize

    def coerce(v: Any) -> Any:
        if v is None or type(v) is str:
            return v
        if isinstance(v, bytes):
            if len(v) % width:
                raise Reject(
                    f"blob of {len(v)} bytes is not a whole number of "
                    f"{blob_format or 'float32le'} values"
                )
            values = np.frombuffer(v, dtype=dtype)
            if dims is not None and values.size != dims:
                raise Reject(f"vector has {values.size} dimensions, the column has {dims}")
            if not np.all(np.isfinite(values)):
                raise Reject("vector holds NaN or Infinity, which pgvector refuses")
            return "[" + ",".join(map(repr, values.astype(np.float64).tolist())) + "]"
        raise Reject(f"{type(v).__name__} is not a vector")

    return coerce


register("vector", vector_coercion)


def ivfflat_lists(rows: int) -> int:
    """pgvector's advice: rows / 1000 up to a million rows, sqrt(rows) beyond (at least 1)."""
    if rows <= IVFFLAT_SQRT_ABOVE:
        return max(1, rows // IVFFLAT_ROWS_PER_LIST)
    return max(1, int(math.sqrt(rows)))


def opclass(pg_type: str, distance: str) -> str:
    """vector_cosine_ops, halfvec_l2_ops …"""
    base = "halfvec" if pg_type.lower().startswith("halfvec") else "vector"
    return f"{base}_{DISTANCES[distance]}"
