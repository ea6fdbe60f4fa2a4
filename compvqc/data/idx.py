"""Reader for the IDX files MNIST and Fashion-MNIST ship as (optionally gzip-compressed).

Written by hand because the format is 20 lines of spec and the alternatives (torchvision,
tensorflow-datasets) would pull a deep-learning framework in for a file read. Every header
field is checked against the file size, so a truncated or foreign file fails with one line
naming it instead of a reshape error.
"""

from __future__ import annotations

import gzip
import io
import struct
import zlib
from pathlib import Path

import numpy as np

from compvqc.errors import DatasetError

MAGIC_IMAGES = 2051  # 0x00000803: unsigned byte, 3 dimensions
MAGIC_LABELS = 2049  # 0x00000801: unsigned byte, 1 dimension
MAX_BYTES = 1 << 30


def read_idx(path: Path, magic: int) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            with gzip.GzipFile(fileobj=io.BytesIO(raw)) as f:
                raw = f.read(MAX_BYTES + 1)
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetError(f"{path}: not a readable (gzip) IDX file: {e}") from None
    if len(raw) > MAX_BYTES:
        raise DatasetError(f"{path}: larger than {MAX_BYTES} bytes")
    if len(raw) < 4:
        raise DatasetError(f"{path}: truncated IDX header")
    (found,) = struct.unpack(">I", raw[:4])
    if found != magic:
        raise DatasetError(f"{path}: IDX magic {found}, expected {magic}")
    ndim = {MAGIC_IMAGES: 3, MAGIC_LABELS: 1}[magic]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path}: truncated IDX header")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    count = int(np.prod(dims, dtype=np.int64))
    if len(raw) != header + count:
        raise DatasetError(f"{path}: header declares {count} bytes of data, file has {len(raw) - header}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)

