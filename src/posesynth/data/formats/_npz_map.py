"""Members of an uncompressed ``.npz`` as views of the file's memory mapping.

``np.load`` copies each member out of the zip into a new array, 256 KB at a time. For a large
file that is gigabytes of fresh memory, and on a machine whose host backs each fresh page on
first touch (the development virtual machine: up to 17 µs a page), reading a million MMPose
frames cost 6 s there. A stored (uncompressed) member's ``.npy`` bytes lie contiguous in the
file, so they can be mapped instead. Its pages are the page cache's, which are already backed.

The mapping is copy-on-write: the views are writeable like ``np.load``'s arrays, a page is
copied only when written, and the file never changes. The views may be unaligned: a zip
member starts wherever its local header ends. NumPy handles unaligned arrays; a Numba kernel
compiles a version for them.

Every member still has its CRC-32 checked, as ``zipfile`` checks it, over the mapped bytes.
Anything this module cannot map gives None, and the caller reads that member the usual way,
with the usual errors: a compressed or encrypted member, a malformed local or ``.npy``
header, Fortran order, object arrays, a size that does not add up, or a CRC mismatch.

The file must not be truncated while the views are in use. Reading a page past a truncated
end raises SIGBUS, as for any memory mapping.
"""

from __future__ import annotations

import io
import mmap
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

#: The zip local file header: signature, then fixed fields up to the name and extra lengths.
_LOCAL_HEADER = struct.Struct("<4s22xHH")
_LOCAL_SIGNATURE = b"PK\x03\x04"
#: Bytes of a member read to parse its ``.npy`` header (numpy writes 64-byte aligned
#: headers, a few hundred bytes for any real array).
_HEAD_BYTES = 1 << 16


def file_mapping(path: Path) -> mmap.mmap | None:
    """A copy-on-write mapping of the whole file ``path`` (writes stay in this process), or
    None (empty, or not mappable)."""
    try:
        with open(path, "rb") as fh:
            return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY)
    except (OSError, ValueError):
        return None


def mapped_member(mapping: mmap.mmap, info: zipfile.ZipInfo) -> np.ndarray | None:
    """The ``.npy`` member ``info`` of the zip mapped by ``mapping``, as a view of the mapping
    with its shape and dtype, once its CRC-32 matches; None when it cannot be mapped (see the
    module docstring)."""
    if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:  # compressed, encrypted
        return None
    local = mapping[info.header_offset : info.header_offset + _LOCAL_HEADER.size]
    if len(local) != _LOCAL_HEADER.size:
        return None
    signature, name_len, extra_len = _LOCAL_HEADER.unpack(local)
    if signature != _LOCAL_SIGNATURE:
        return None
    start = info.header_offset + _LOCAL_HEADER.size + name_len + extra_len
    end = start + info.file_size
    if end > len(mapping):
        return None
    head = io.BytesIO(mapping[start : min(end, start + _HEAD_BYTES)])
    try:
        version = npy_format.read_magic(head)
        read_header = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
        shape, fortran, dtype = read_header(head)
    except (ValueError, EOFError, OSError):
        return None
    count = int(np.prod(shape, dtype=np.int64))
    body = start + head.tell()
    if dtype.hasobject or (fortran and len(shape) > 1) or body + count * dtype.itemsize != end:
        return None
    with memoryview(mapping) as view, view[start:end] as member:
        if zlib.crc32(member) != info.CRC:
            return None
    return np.frombuffer(mapping, dtype=dtype, count=count, offset=body).reshape(shape)
