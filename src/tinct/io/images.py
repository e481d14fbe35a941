"""Read and write images safely.

Every read returns an ``(H, W, 3)`` uint8 sRGB array, EXIF-rotated, whatever the file's mode
(1-bit, L, LA, P with/without transparency, RGB, RGBA, CMYK, 16-bit, 32-bit int, float).
Every failure to read becomes one :class:`ImageReadError` whose ``str`` is a single line
``"<path>: <reason>"``, so a batch can log it and go on with the next file.

Writes are atomic (temporary file in the destination folder, fsync, ``os.replace``): an
interrupted run never leaves a half-written output under the final name, and inputs passed in
``protect`` are never overwritten.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
import os
import re
import secrets
import stat
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = [
    "DEFAULT_QUALITY",
    "ENCODINGS",
    "READ_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "WRITE_FORMATS",
    "ImageEncoding",
    "ImageReadError",
    "ImageWriteError",
    "atomic_open",
    "atomic_write_bytes",
    "encode_image",
    "is_grayscale",
    "list_images",
    "open_image_size",
    "output_encoding",
    "read_image",
    "temp_file_target",
    "write_image",
]

PathLike = str | os.PathLike

#: Largest width*height :func:`read_image` accepts unless told otherwise (about 179 MP; the server
#: has its own, lower ``tinct.serve.UPLOAD_MAX_PIXELS``). PIL warns above 89_478_485 pixels and
#: refuses above twice that; we accept up to PIL's refusal point so that large legitimate scans
#: (100+ MP) still work.
#: PIL's own global ``PIL.Image.MAX_IMAGE_PIXELS`` check still runs when a file is opened, so a
#: larger ``max_pixels`` only takes effect if that global is raised too.
READ_MAX_PIXELS = 2 * 89_478_485

#: Lowercase suffixes :func:`list_images` picks up in folders.
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif"})


@dataclasses.dataclass(frozen=True)
class ImageEncoding:
    """How one output format is encoded; :data:`ENCODINGS` is the one table of them.

    Args:
        pil_format: Pillow's name of the format.
        media_type: its HTTP content type.
        suffix: the suffix an output in this format gets (with the dot).
        options: Pillow save options besides the quality.
        lossy: whether ``quality`` (1..100) applies.
    """

    pil_format: str
    media_type: str
    suffix: str
    options: Mapping[str, Any]
    lossy: bool

    def save_options(self, quality: int) -> dict[str, Any]:
        """Pillow's ``Image.save`` keyword arguments at ``quality`` (1..100; unused by lossless formats).

        Raises:
            ValueError: ``quality`` outside 1..100, whatever the format.
        """
        if not 1 <= int(quality) <= 100:
            raise ValueError(f"quality must be in 1..100, got {quality}")
        return {"format": self.pil_format, **self.options, **({"quality": int(quality)} if self.lossy else {})}


#: Output formats by name (``tinct colorize --format``, the server's ``format`` field): the one
#: table of save options, so a file, a batch and the server encode a format the same way.
ENCODINGS: Mapping[str, ImageEncoding] = MappingProxyType(
    {
        "png": ImageEncoding("PNG", "image/png", ".png", {}, lossy=False),
        # subsampling=0 is 4:4:4: Pillow's default 4:2:0 halves the chroma resolution, and the
        # colorized chroma is what tinct makes.
        "jpg": ImageEncoding("JPEG", "image/jpeg", ".jpg", {"subsampling": 0}, lossy=True),
        "webp": ImageEncoding("WEBP", "image/webp", ".webp", {}, lossy=True),
        "tiff": ImageEncoding("TIFF", "image/tiff", ".tiff", {"compression": "tiff_deflate"}, lossy=False),
    }
)
#: Other names of the same formats (their suffixes too).
_ENCODING_ALIASES = {"jpeg": "jpg", "tif": "tiff"}

#: Quality of lossy outputs unless asked otherwise (1..100).
DEFAULT_QUALITY = 95

#: Suffix -> PIL format for :func:`write_image` (from :data:`ENCODINGS`).
WRITE_FORMATS = {
    f".{name}": ENCODINGS[_ENCODING_ALIASES.get(name, name)].pil_format for name in (*ENCODINGS, *_ENCODING_ALIASES)
}


def output_encoding(name: str) -> ImageEncoding:
    """The encoding of a format name or suffix (``"jpg"``, ``"JPEG"``, ``".tif"``, ...).

    Raises:
        ValueError: not a format tinct writes (the message lists those it does).
    """
    key = name.lower().lstrip(".")
    key = _ENCODING_ALIASES.get(key, key)
    if key not in ENCODINGS:
        raise ValueError(f"unsupported output format {name!r}; choose one of {', '.join(ENCODINGS)}")
    return ENCODINGS[key]


def encode_image(rgb: np.ndarray, fmt: str, quality: int = DEFAULT_QUALITY) -> bytes:
    """An ``(H, W, 3)`` uint8 RGB array encoded in memory as format ``fmt`` (see :func:`output_encoding`),
    exactly as :func:`write_image` writes it to a file."""
    options = output_encoding(fmt).save_options(quality)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, **options)
    return buffer.getvalue()


_ORIENTATION_TAG = 0x0112
# Same mapping as PIL.ImageOps.exif_transpose; kept here so that open_image_size (header only)
# and read_image agree on where the orientation comes from.
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SWAPS_AXES = frozenset({5, 6, 7, 8})
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "La", "RGBa"})
_MAX_REASON_CHARS = 300


def _one_line(text: str, limit: int = _MAX_REASON_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _display(path: Any) -> str:
    try:
        return os.fsdecode(os.fspath(path))
    except TypeError:
        return repr(path)


class _PathError(Exception):
    """An error about one file; ``str(err)`` is the single line ``"<path>: <reason>"``."""

    def __init__(self, path: Any, reason: str) -> None:
        # Both go to Exception.__init__ so the error pickles (DataLoader workers send it back).
        super().__init__(path, reason)
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return _one_line(f"{_display(self.path)}: {self.reason}", limit=1000)


class ImageReadError(_PathError):
    """A file could not be read as an image (missing, empty, truncated, corrupt, too large...)."""


class ImageWriteError(_PathError):
    """An image could not be written, or writing it was refused (input protection, no overwrite)."""


# --------------------------------------------------------------------------------------------
# Reading


def _check_file(path: PathLike, error: type[ImageReadError] = ImageReadError, kind: str = "an image file") -> None:
    """Cheap stat-based checks that give better messages than PIL's (or FFmpeg's) for the common
    cases; failures raise ``error`` (``tinct.io.video`` passes its subclass and "a video file")."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise error(path, "no such file") from None
    except PermissionError:
        raise error(path, "permission denied") from None
    except (OSError, ValueError) as exc:  # ValueError: embedded NUL in the path
        raise error(path, _one_line(f"cannot access file ({exc})")) from None
    if stat.S_ISDIR(st.st_mode):
        raise error(path, f"is a directory, not {kind}")
    if st.st_size == 0:
        raise error(path, "empty file (0 bytes)")


def _check_pixels(path: PathLike, size: tuple[int, int], max_pixels: int | None) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise ImageReadError(path, f"invalid image size {width}x{height}")
    if max_pixels is not None and width * height > max_pixels:
        raise ImageReadError(path, f"{width * height} pixels exceeds the limit of {max_pixels}")


def _reason(exc: BaseException, stage: str) -> str:
    """Turn whatever PIL/zlib/libjpeg raised into a short, stable, one-line reason."""
    msg = _one_line(str(exc)) or type(exc).__name__
    if isinstance(exc, UnidentifiedImageError):
        return "not an image (cannot identify image file)"
    if isinstance(exc, Image.DecompressionBombError):
        found = re.search(r"\((\d+) pixels\)", msg)
        limit = re.search(r"limit of (\d+)", msg)
        if found and limit:
            return f"{found.group(1)} pixels exceeds the limit of {limit.group(1)}"
        return f"too many pixels ({msg})"
    if isinstance(exc, MemoryError):
        return f"out of memory while {stage} the image"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if "truncated" in msg.lower():
        return "truncated image file"
    if stage == "opening":
        return f"cannot open image ({type(exc).__name__}: {msg})"
    return f"corrupt or unsupported image data ({type(exc).__name__}: {msg})"


def _orientation(img: Image.Image, header_only: bool) -> int:
    """EXIF orientation 1..8; 1 when absent or unreadable (bad EXIF must not cost the image)."""
    if header_only and img.format == "PNG" and "exif" not in img.info:
        # PIL's PNG getexif() decodes the whole image to look for an eXIf chunk after the pixel
        # data; header-only callers trust only EXIF placed before it (where encoders put it).
        return 1
    try:
        value = img.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:
        return 1
    return value if isinstance(value, int) and value in _TRANSPOSE else 1


def _sixteen_bit_to_rgb(img: Image.Image) -> np.ndarray:
    # Scale 0..65535 to 0..255 with rounding (65535 -> 255, 32768 -> 128); clipping instead of
    # scaling would turn almost every 16-bit photo white. 32-bit "I" images are assumed to hold
    # 16-bit data (what PNG/TIFF produce); values outside 0..65535 are clipped.
    values = np.clip(np.asarray(img), 0, 65535).astype(np.uint32)
    gray = ((values * 255 + 32767) // 65535).astype(np.uint8)
    return np.repeat(gray[:, :, None], 3, axis=2)


def _float_to_rgb(img: Image.Image) -> np.ndarray:
    # Float images come either in 0..1 (scientific / HDR tools) or 0..255; pick by the data.
    values = np.nan_to_num(np.asarray(img, dtype=np.float32), nan=0.0, posinf=255.0, neginf=0.0)
    if values.size and float(values.max()) <= 1.0:
        values = values * 255.0
    gray = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return np.repeat(gray[:, :, None], 3, axis=2)


def _cmyk_to_rgb(img: Image.Image) -> Image.Image:
    icc = img.info.get("icc_profile")
    if icc:
        # A print profile (e.g. SWOP, FOGRA) gives far better colors than the naive formula.
        try:
            from PIL import ImageCms

            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(img, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
            if converted is not None:
                return converted
        except Exception:
            pass  # broken/unsupported profile: fall back rather than lose the image
    # PIL: R = (255 - C) * (255 - K) / 255 (and Adobe's inverted CMYK JPEGs are already handled).
    return img.convert("RGB")


def _composite_on_white(img: Image.Image) -> np.ndarray:
    rgba = img.convert("RGBA")
    out = Image.new("RGB", rgba.size, (255, 255, 255))
    out.paste(rgba.convert("RGB"), mask=rgba.getchannel("A"))
    return np.asarray(out)


def _to_rgb_array(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode in _SIXTEEN_BIT_MODES:
        return _sixteen_bit_to_rgb(img)
    if mode == "F":
        return _float_to_rgb(img)
    if mode == "CMYK":
        return np.asarray(_cmyk_to_rgb(img))
    if mode in _ALPHA_MODES or (mode in ("1", "L", "P", "RGB") and img.info.get("transparency") is not None):
        return _composite_on_white(img)
    return np.asarray(img.convert("RGB"))  # ValueError for modes PIL cannot convert (e.g. LAB)


def read_image(
    path: PathLike,
    max_pixels: int | None = READ_MAX_PIXELS,
    draft_size: tuple[int, int] | None = None,
    display_name: str | None = None,
    notes: list[str] | None = None,
    keep_gray: bool = False,
) -> np.ndarray:
    """Decode an image file to sRGB.

    Args:
        path: image file (any format PIL reads).
        max_pixels: refuse images whose width*height exceeds this, checked on the header before
            any pixel is decoded. ``None`` disables our check (PIL's global limit still applies).
        draft_size: ``(width, height)`` in displayed (EXIF-rotated) orientation. For JPEG files
            only, decode at a reduced scale (1/2, 1/4 or 1/8) chosen so that the result is still
            at least this large: the returned image is then SMALLER than the file. Much faster
            when only a small copy is needed (e.g. the model input). Ignored for other formats.
        display_name: how warnings name the file (e.g. an upload's own name rather than the
            server's temporary path); default the path.
        notes: if given, warnings are appended here as one-line strings instead of being issued
            with ``warnings.warn`` (worker threads cannot safely catch warnings: the filters are
            process-wide).
        keep_gray: return an 8-bit gray file (PIL mode ``L`` without transparency) as (H, W)
            uint8 instead of expanding it to three equal channels (for callers that only need L*).

    Returns:
        ``(H, W, 3)`` uint8 RGB (or ``(H, W)`` gray, see ``keep_gray``), values 0..255, with EXIF
        orientation applied (all 8 values).
        Alpha is composited on white; 16-bit data is scaled (not clipped) to 8 bits; float data
        in 0..1 is scaled to 0..255; CMYK is converted through its ICC profile when present.
        Animated GIF/WebP: the first frame, with a ``UserWarning`` naming the file.

    Raises:
        ImageReadError: for any failure (missing, empty, not an image, truncated, corrupt,
            too many pixels, unsupported mode); ``str(err)`` is ``"<path>: <reason>"``.
        ValueError: ``draft_size`` is not two positive integers (a programming error).

    Note: if some other code set ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES = True``, PIL pads
    truncated files silently and they cannot be detected here.
    """
    if draft_size is not None:
        if len(draft_size) != 2 or any(int(s) != s or s <= 0 for s in draft_size):
            raise ValueError(f"draft_size must be two positive integers, got {draft_size!r}")
        draft_size = (int(draft_size[0]), int(draft_size[1]))
    _check_file(path)
    stage = "opening"
    animated = False
    try:
        with warnings.catch_warnings():
            # Between PIL's warning and error thresholds we decide, not PIL: legitimate big scans.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                _check_pixels(path, img.size, max_pixels)
                try:
                    animated = bool(getattr(img, "is_animated", False))
                except Exception:
                    animated = True  # something follows frame 0 but is unreadable; frame 0 may be fine
                if animated:
                    img.seek(0)
                orientation = None
                if draft_size is not None and img.format in ("JPEG", "MPO"):
                    orientation = _orientation(img, header_only=True)  # JPEG EXIF is in the header
                    w, h = draft_size
                    img.draft("RGB", (h, w) if orientation in _SWAPS_AXES else (w, h))
                stage = "decoding"
                img.load()  # force the full decode here so truncated files fail inside the try
                if orientation is None:
                    orientation = _orientation(img, header_only=False)
                if orientation in _TRANSPOSE:
                    img = img.transpose(_TRANSPOSE[orientation])
                if keep_gray and img.mode == "L" and img.info.get("transparency") is None:
                    rgb = np.asarray(img)
                else:
                    rgb = _to_rgb_array(img)
    except ImageReadError:
        raise
    except Exception as exc:
        raise ImageReadError(path, _reason(exc, stage)) from exc
    if animated:
        shown = display_name if display_name is not None else _display(path)
        note = f"{shown}: animated or multi-page image, using the first frame only"
        if notes is not None:
            notes.append(note)
        else:
            warnings.warn(note, stacklevel=2)
    # np.asarray on a PIL image can be read-only; callers expect to own a writable array.
    return rgb if rgb.flags.writeable and rgb.flags.c_contiguous else np.array(rgb, order="C")


def open_image_size(path: PathLike) -> tuple[int, int]:
    """``(width, height)`` in pixels as displayed (after EXIF rotation), from the header only.

    Raises:
        ImageReadError: missing/empty/unidentifiable file, or more pixels than PIL's own
            decompression-bomb limit. A truncated body is NOT detected (nothing is decoded).
    """
    _check_file(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
                orientation = _orientation(img, header_only=True)
    except Exception as exc:
        raise ImageReadError(path, _reason(exc, "opening")) from exc
    return (height, width) if orientation in _SWAPS_AXES else (width, height)


def is_grayscale(rgb: np.ndarray, threshold: float = 2.0, *, max_samples: int = 1_000_000) -> bool:
    """True when an image carries (almost) no chroma.

    The per-pixel channel spread ``max(R,G,B) - min(R,G,B)`` (0..255 units for uint8) is
    computed and its 99th percentile compared with ``threshold``. A percentile rather than the
    maximum makes the test robust to JPEG ringing and to a tiny colored stamp (< 1 % of the
    pixels); a gray image saved as JPEG (q90) has spreads of 0-1, while any photo with visible
    color has well over 1 % of pixels with spreads of 5+.

    Args:
        rgb: ``(H, W, 3)`` (or ``(H, W, 4)``, alpha ignored) array on a 0..255 scale; ``(H, W)``
            and ``(H, W, 1)`` are gray by definition.
        threshold: largest 99th-percentile spread still counted as gray, in 0..255 units.
        max_samples: larger images are subsampled on a regular grid (stride, no filtering, so
            noise statistics are kept) to about this many pixels, for speed.
    """
    a = np.asarray(rgb)
    if a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 1):
        return True
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(f"expected an (H, W, 3) image, got shape {a.shape}")
    height, width = a.shape[:2]
    if height * width == 0:
        return True
    step = max(1, math.ceil(math.sqrt(height * width / max(1, max_samples))))
    a = a[::step, ::step, :3]
    a = a.astype(np.int16) if a.dtype == np.uint8 else a.astype(np.float32)
    spread = a.max(axis=2) - a.min(axis=2)
    return float(np.percentile(spread, 99)) <= threshold


def list_images(
    root: PathLike,
    recursive: bool = True,
    extensions: Iterable[str] = IMAGE_EXTENSIONS,
    unreadable: list[tuple[Path, str]] | None = None,
) -> list[Path]:
    """Image files under ``root``, sorted (by path components, so deterministic everywhere).

    A folder is walked (recursively by default); files whose lowercase suffix is in
    ``extensions`` (default :data:`IMAGE_EXTENSIONS`; add ``tinct.io.video.VIDEO_EXTENSIONS``
    for videos too) are returned. Hidden files and folders (name starting with ``.``)
    are skipped. Symlinked folders are followed, but each real folder is visited once, so symlink
    loops terminate. A file ``root`` is returned as ``[root]`` whatever its suffix (the caller
    asked for it explicitly; :func:`read_image` will say if it is not an image). Unreadable
    sub-folders are skipped with a warning, or, when ``unreadable`` is a list, appended to it as
    ``(folder, "cannot list folder (<reason>)")`` for the caller to count as failures.

    Raises:
        FileNotFoundError: ``root`` does not exist.
    """
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such file or folder")
    suffixes = frozenset(extensions)
    found: list[Path] = []
    visited: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            st = folder.stat()
            key = (st.st_dev, st.st_ino)
            if key in visited:
                continue
            visited.add(key)
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError as exc:
            if unreadable is not None:
                unreadable.append((folder, _one_line(f"cannot list folder ({exc.strerror or exc})")))
            else:
                warnings.warn(f"{folder}: skipped, cannot list folder ({exc.strerror or exc})", stacklevel=2)
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir():  # follows symlinks; loops are cut by `visited`
                    if recursive:
                        stack.append(Path(entry.path))
                elif entry.is_file() and os.path.splitext(entry.name)[1].lower() in suffixes:
                    found.append(Path(entry.path))
            except OSError:
                continue  # e.g. a dangling symlink: nothing to read
    return sorted(found)


# --------------------------------------------------------------------------------------------
# Writing


def _temp_name(path: Path) -> Path:
    # Hidden + ".tmp" so that list_images and users ignore it; the prefix keeps names short
    # enough for 255-byte filename limits.
    return path.with_name(f".{path.name[:100]}.{secrets.token_hex(6)}.tmp")


_TEMP_NAME = re.compile(r"\.(.+)\.[0-9a-f]{12}\.tmp", re.DOTALL)


def temp_file_target(name: str) -> str | None:
    """For the name of a temporary file made by :func:`atomic_open`, the name of the file it was
    going to become (only its first 100 characters are kept in the temporary name); else ``None``.

    A process killed with SIGKILL (or by power loss) mid-write leaves such a file behind; whoever
    owns the target may delete it (``tinct colorize`` does so on a rerun).
    """
    found = _TEMP_NAME.fullmatch(name)
    return found.group(1) if found else None


def _create_temp(path: Path) -> tuple[int, Path]:
    # os.open with 0o666 (instead of tempfile.mkstemp's 0o600) lets the umask decide the final
    # permissions, exactly as for a normally created file.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = _temp_name(path)
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{path}: could not create a unique temporary file")


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable (POSIX); not possible/needed on some platforms.
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _commit(tmp: Path, path: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        # link() fails if `path` exists, atomically: no window where another writer is clobbered.
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(f"{path}: already exists") from None
    except OSError:
        # Filesystem without hard links (FAT, some network shares): check, then replace.
        if os.path.lexists(path):
            raise FileExistsError(f"{path}: already exists") from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


@contextlib.contextmanager
def atomic_open(
    path: PathLike,
    mode: str = "wb",
    *,
    overwrite: bool = True,
    encoding: str | None = None,
    newline: str | None = None,
) -> Iterator[IO[Any]]:
    """Open ``path`` for writing so that it appears complete or not at all.

    Writes go to a unique hidden temporary file ``.<name>.<random>.tmp`` in the same folder
    (same filesystem, so the final rename is atomic); on a clean exit the file is flushed,
    fsynced and renamed over ``path``. On any exception, including ``KeyboardInterrupt``, the
    temporary file is deleted and ``path`` is left untouched. Parent folders are created.

    Args:
        mode: ``"wb"`` (binary) or ``"w"`` (text; ``encoding`` defaults to UTF-8).
        overwrite: if False, raise ``FileExistsError`` instead of replacing an existing ``path``
            (checked atomically at commit time where the filesystem supports hard links).
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open supports mode 'wb' or 'w', got {mode!r}")
    path = Path(path)
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(f"{path}: already exists")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(path)
    try:
        if mode == "w":
            f = os.fdopen(fd, "w", encoding=encoding or "utf-8", newline=newline)
        else:
            f = os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    try:
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        _commit(tmp, path, overwrite)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path: PathLike, data: bytes, *, overwrite: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path, "wb", overwrite=overwrite) as f:
        f.write(data)


def _same_file(a: PathLike, b: PathLike) -> bool:
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def write_image(
    path: PathLike,
    rgb: np.ndarray,
    *,
    protect: Iterable[PathLike] = (),
    quality: int = DEFAULT_QUALITY,
    overwrite: bool = True,
    description: str | None = None,
) -> Path:
    """Encode an ``(H, W, 3)`` uint8 RGB array to ``path``, atomically.

    The format comes from the suffix (png, jpg/jpeg, webp, tif/tiff), encoded as :data:`ENCODINGS`
    says: JPEG with ``quality`` and no chroma subsampling (4:4:4), WebP with ``quality`` (lossy),
    TIFF deflate-compressed, PNG lossless.

    Args:
        protect: files that must never be overwritten (the inputs). Writing is refused if
            ``path`` is the same file as any of them (same real path, via symlinks or hard
            links). Only checked when ``path`` already exists, so it costs nothing for new files.
        quality: 1..100, for JPEG and WebP.
        overwrite: if False, refuse to replace an existing file.
        description: text stored in the file's header (PNG: a ``tEXt`` chunk named ``tinct``;
            JPEG, WebP, TIFF: EXIF ImageDescription), e.g. the settings an output was made with
            (``tinct.inference.provenance``).

    Returns:
        ``Path(path)``.

    Raises:
        ValueError: unsupported suffix (names the path and the supported suffixes), bad array.
        ImageWriteError: refused (protected input, existing file with ``overwrite=False``) or the
            write failed (disk full, permissions); one line naming the file.
    """
    path = Path(path)
    if path.suffix.lower() not in WRITE_FORMATS:
        supported = ", ".join(sorted(WRITE_FORMATS))
        raise ValueError(f"{path}: unsupported output format {path.suffix!r}; supported: {supported}")
    arr = np.asarray(rgb)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{path}: expected an (H, W, 3) uint8 array, got {arr.dtype} {arr.shape}")
    options = output_encoding(path.suffix).save_options(quality)
    if os.path.exists(path):
        if not overwrite:
            raise ImageWriteError(path, "already exists (overwrite disabled)")
        for other in protect:
            if _same_file(path, other):
                raise ImageWriteError(path, f"refusing to overwrite input file {_display(other)}")

    if description is not None:  # the provenance record (tinct.inference.provenance)
        if output_encoding(path.suffix).pil_format == "PNG":
            from PIL.PngImagePlugin import PngInfo

            options["pnginfo"] = info = PngInfo()
            info.add_text("tinct", description)
        else:
            exif = Image.Exif()
            exif[270] = description  # ImageDescription
            options["exif"] = exif
    image = Image.fromarray(np.ascontiguousarray(arr))
    try:
        with atomic_open(path, "wb", overwrite=overwrite) as f:
            image.save(f, **options)
    except FileExistsError:
        raise ImageWriteError(path, "already exists (overwrite disabled)") from None
    except (OSError, ValueError) as exc:
        raise ImageWriteError(path, _one_line(f"cannot write ({type(exc).__name__}: {exc})")) from exc
    return path
