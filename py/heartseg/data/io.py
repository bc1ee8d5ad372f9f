"""Reading NIfTI files safely: every failure becomes a Problem naming the file, never a traceback.

Files are read once as bytes so the same read gives the content hash (cache key) and the decoded volume.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from heartseg.errors import Problem

NIFTI_SUFFIXES = (".nii.gz", ".nii")
HEADER_READ = 1024
"""Bytes read for a header-only look: a NIfTI-2 header is 540 bytes, plus the extension flag."""
MAX_EXTENSION_BYTES = 64 * 1024**2
"""Header extensions (between the header and the voxels) larger than this are refused: real ones are kilobytes,
and a .nii.gz can hide gigabytes of them in a few megabytes."""
MAX_VOXEL_BYTES = 4 * 1024**3
"""The most voxel data one file may declare (a 1024^3 float32 volume); more is refused before it is allocated."""


def strip_nifti_suffix(name: str) -> str | None:
    """'case_0000.nii.gz' -> 'case_0000'; None when the name is not a NIfTI file name."""
    for suffix in NIFTI_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return None


def content_hash(data: bytes) -> str:
    """Fast content hash of a file's bytes (size and mtime do not catch a file rewritten in place)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def file_hash(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class Volume:
    """A decoded 3-D volume in nibabel's stored axis order (x, y, z), with its header geometry."""

    path: Path
    data: np.ndarray
    affine: np.ndarray
    dtype: str
    digest: str

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.data.shape)

    @property
    def zooms(self) -> np.ndarray:
        """Voxel sizes along the stored axes, from the affine (what the image means in space)."""
        return nib.affines.voxel_sizes(self.affine)


def _nifti_class(raw: bytes):
    """Pick Nifti1Image or Nifti2Image from sizeof_hdr in either byte order; None when it is neither."""
    if len(raw) < 4:
        return None
    for order in ("<", ">"):
        size = struct.unpack(order + "i", raw[:4])[0]
        if size == 348 and raw[344:348] in (b"n+1\x00", b"ni1\x00"):
            return nib.Nifti1Image if raw[344:348] == b"n+1\x00" else None
        if size == 540 and raw[4:8] in (b"n+2\x00", b"ni2\x00"):
            return nib.Nifti2Image if raw[4:8] == b"n+2\x00" else None
    return None


def read_bytes(path: Path) -> tuple[bytes | None, Problem | None]:
    """The file's bytes; a file larger than any volume we accept is refused before it is read (bounded memory)."""
    try:
        size = path.stat().st_size
        if size > MAX_VOXEL_BYTES + MAX_EXTENSION_BYTES + HEADER_READ:
            return None, Problem(f"file is {_size(size)}, more than the {_size(MAX_VOXEL_BYTES)} of voxel data heartseg "
                                 f"reads from one volume", str(path))
        return path.read_bytes(), None
    except FileNotFoundError:
        return None, Problem("file not found", str(path))
    except IsADirectoryError:
        return None, Problem("is a folder, expected a NIfTI file", str(path))
    except OSError as e:
        return None, Problem(f"cannot read file ({e.strerror or e})", str(path))


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"


def check_header(where: str, raw: bytes, data_bytes: int | None = None) -> tuple[Any, Problem | None]:
    """The checks a header alone allows, before any voxel is decoded: (nibabel header, None) or (None, Problem).

    With data_bytes (the uncompressed file length) it also refuses a header that describes more voxel data than
    the file holds, so a damaged or hostile header never makes us allocate what it claims (terabytes).
    """
    if not raw:
        return None, Problem("file is empty (0 bytes)", where, "copy it again")
    klass = _nifti_class(raw)
    if klass is None:
        hint = "a header-only .hdr/.img pair is not supported" if raw[344:348] in (b"ni1\x00",) else None
        return None, Problem("not a NIfTI file (no single-file NIfTI-1/2 header magic)", where, hint)
    size = 348 if klass is nib.Nifti1Image else 540
    if len(raw) < size:
        return None, Problem(f"truncated NIfTI header ({len(raw)} of {size} bytes)", where)
    header = klass.header_class(raw[:size], check=False)
    dim = [int(v) for v in header["dim"]]
    if not 1 <= dim[0] <= 7:
        return None, Problem(f"header dim[0] (the number of dimensions) is {dim[0]}; expected 1 to 7", where)
    shape = dim[1:1 + dim[0]]
    for i, v in enumerate(shape, 1):
        if v < 1:
            return None, Problem(f"header dimension dim[{i}] is {v}; every dimension must be at least 1", where)
    try:
        dtype = header.get_data_dtype()
    except (KeyError, ValueError, TypeError):
        return None, Problem(f"unsupported datatype code {int(header['datatype'])}", where,
                             "heartseg reads integer and floating-point NIfTI images")
    problem = _limit_problem(where, header, shape, dtype, size)
    if problem:
        return None, problem
    if data_bytes is not None:
        need = math.prod(shape) * dtype.itemsize  # Python ints: no overflow for any header
        have = max(0, data_bytes - max(int(header.get_data_offset()), size + 4))
        if need > have:
            return None, Problem(f"the header describes {'x'.join(map(str, shape))} {dtype.name} voxels ({_size(need)}) "
                                 f"but the file holds only {_size(have)} of image data", where,
                                 "the file is truncated or its header is damaged")
    return header, None


def _limit_problem(where: str, header: Any, shape: list[int], dtype: np.dtype, size: int) -> Problem | None:
    """A header whose extension or voxel data is beyond what we allocate for one volume."""
    extension = int(header.get_data_offset()) - (size + 4)
    if extension > MAX_EXTENSION_BYTES:
        return Problem(f"header extension of {_size(extension)} (more than {_size(MAX_EXTENSION_BYTES)})", where,
                       "remove the extension (e.g. nibabel: img.header.extensions.clear()) and save again")
    need = math.prod(shape) * dtype.itemsize
    if need > MAX_VOXEL_BYTES:
        return Problem(f"the header describes {'x'.join(map(str, shape))} {dtype.name} voxels ({_size(need)}), more than "
                       f"the {_size(MAX_VOXEL_BYTES)} heartseg reads from one volume", where)
    return None


def _declared_bytes(header: Any) -> int:
    """Bytes up to the end of the voxel data the header declares (offset + voxels)."""
    size = 540 if isinstance(header, nib.Nifti2Header) else 348  # Nifti2Header is a Nifti1Header subclass
    shape = [int(v) for v in header["dim"][1:1 + int(header["dim"][0])]]
    return max(int(header.get_data_offset()), size + 4) + math.prod(shape) * header.get_data_dtype().itemsize


def gunzip_bounded(raw: bytes, limit: int) -> bytes:
    """At most `limit` bytes of a gzip stream (several members allowed); EOFError when it ends early, before
    `limit` bytes and before its end. A gzip bomb costs at most `limit` bytes of memory."""
    out, total, data = [], 0, raw
    while data and total < limit:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        chunk = d.decompress(data, limit - total)
        out.append(chunk)
        total += len(chunk)
        if total >= limit:
            d.decompress(d.unconsumed_tail, 1)  # reach the member's end when it is there: its CRC is checked
            break
        if not d.eof:
            raise EOFError("compressed data ends early")
        data = d.unused_data.lstrip(b"\x00")  # the next member, if any (zero padding between members is allowed)
        if data[:2] != b"\x1f\x8b":
            break
    return b"".join(out)


def decode(path: Path, raw: bytes) -> tuple[Volume | None, Problem | None]:
    """Decode NIfTI bytes (gzipped or not) into a Volume; a Problem says what is wrong otherwise."""
    where = str(path)
    digest = content_hash(raw)  # identify by the bytes on disk, compressed or not
    if raw[:2] == b"\x1f\x8b":
        try:
            # the header first: it says how many bytes to inflate, so no stream inflates beyond what it declares
            head = gunzip_bounded(raw, HEADER_READ)
            header, problem = check_header(where, head)
            if problem:
                return None, problem
            raw = gunzip_bounded(raw, _declared_bytes(header))
        except EOFError:
            return None, Problem("truncated gzip file (compressed data ends early)", where,
                                 "the file was cut off while copying or downloading; copy it again")
        except (OSError, zlib.error) as e:
            return None, Problem(f"corrupt gzip data ({e})", where, "copy the file again")
    elif raw and path.name.endswith(".gz"):
        return None, Problem("not a gzip file although the name ends in .gz", where)
    _, problem = check_header(where, raw, len(raw))
    if problem:
        return None, problem
    klass = _nifti_class(raw)
    try:
        img = klass.from_bytes(raw)
        data = np.asanyarray(img.dataobj)
    except Exception as e:  # noqa: BLE001 - nibabel raises many types for damaged headers/data
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        if "buffer is smaller" in msg or "size" in msg.lower():
            return None, Problem(f"image data is shorter than the header says ({msg})", where)
        return None, Problem(f"cannot decode NIfTI data ({msg})", where)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]  # a trailing singleton time/channel axis is still a 3-D volume
    if data.ndim != 3:
        return None, Problem(f"not a 3-D volume: shape {tuple(data.shape)}", where,
                             "each image and label must be one 3-D volume; give channels as NAME_0000, NAME_0001 files")
    affine = img.affine
    if affine is None or not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        return None, Problem("the header has no usable orientation (singular or non-finite affine)", where)
    return Volume(path, data, np.asarray(affine, dtype=np.float64), str(img.get_data_dtype()), digest), None


def read_volume(path: Path) -> tuple[Volume | None, Problem | None]:
    # an uncompressed file's header is checked before the file is read: its extension or voxels may be gigabytes
    if not path.name.endswith(".gz"):
        try:
            with open(path, "rb") as f:
                head = f.read(HEADER_READ)
        except OSError:
            head = b""  # read_bytes below names the problem
        if head and head[:2] != b"\x1f\x8b":
            _, problem = check_header(str(path), head)
            if problem:
                return None, problem
    raw, problem = read_bytes(path)
    if problem:
        return None, problem
    return decode(path, raw)


def read_header(path: Path) -> tuple[tuple[tuple[int, ...], np.ndarray] | None, Problem | None]:
    """(shape, affine) from the header alone: cheap, used for the median spacing before decoding anything."""
    where = str(path)
    try:
        with open(path, "rb") as f:
            head = f.read(HEADER_READ)
        if head[:2] == b"\x1f\x8b":
            with gzip.open(path, "rb") as g:
                head = g.read(HEADER_READ)
        elif path.name.endswith(".gz") and head:
            return None, Problem("not a gzip file although the name ends in .gz", where)
    except FileNotFoundError:
        return None, Problem("file not found", where)
    except IsADirectoryError:
        return None, Problem("is a folder, expected a NIfTI file", where)
    except EOFError:
        return None, Problem("truncated gzip file (compressed data ends early)", where,
                             "the file was cut off while copying or downloading; copy it again")
    except (gzip.BadGzipFile, zlib.error) as e:
        return None, Problem(f"corrupt gzip data ({e})", where, "copy the file again")
    except OSError as e:
        return None, Problem(f"cannot read file ({e.strerror or e})", where)
    header, problem = check_header(where, head)
    if problem:
        return None, problem
    return (tuple(int(s) for s in header.get_data_shape()), np.asarray(header.get_best_affine(), dtype=np.float64)), None
