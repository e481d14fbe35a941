"""Build "fresh" real colour photographs from Debian packages that no other photo set comes from.

Why: the colorizer generalizes badly to everyday photos (people, food, streets, animals, interiors)
because its training photos are mostly landscapes and isolated objects from a few game and wallpaper
packages, and val comes from the same packages as train, so val cannot tell whether a design choice
generalizes. A search of Debian bookworm (documentation, examples and data packages) found 41 more
real photographs: hikers, a surfer, a man with a child, a crowded station hall, plus food, animals,
flowers and everyday things. Held out, they are a check on sources the models never saw (issue 13's
recipe and vividness were chosen with them held out); the shipped default then trains on them too
(configs/people-lite2-feat-fresh.toml). Each is listed explicitly in ``PHOTOS`` below (package,
path inside the package, kind), so the output depends only on the package contents. Drawings,
renders, screenshots, composites and processed variants (filter examples) were left out by eye, and
so were images whose shorter side is under 256 pixels.

De-duplication: every chosen photo was checked against all of data/photos/{train,train_extra,val,test}
(and against each other) with a 16x16 horizontal + vertical difference hash (512 bits; the nearest
pair was 155 bits apart, while unrelated reference photos are at least 92 apart) and a loose crop
check (normalised cross-correlation of tiny grayscale thumbnails at 5 scales, both ways); the few
crop-check hits above 0.9 were looked at and are unrelated images. ``--check`` repeats the hash
check at run time and refuses to write a photo within ``MAX_HASH_DISTANCE`` bits of a reference one.

Never taken from here: images bundled in Python packages and OpenCV samples, which are kept for
independent testing.

Reproduce (needs only the Debian archive; ``make fresh`` does the same):

    mkdir -p build/debs && cd build/debs && apt-get download <each of PACKAGES> && cd ../..
    for f in build/debs/*.deb; do dpkg-deb -R "$f" "build/fresh/$(dpkg-deb -f "$f" Package)"; done
    python scripts/make_fresh_photos.py build/fresh data/fresh --check ../shared/data/photos

Each package must be extracted into ``<root>/<package>/`` (``dpkg-deb -R`` keeps DEBIAN/control, whose
Version goes into SOURCES.tsv; with ``dpkg-deb -x`` the changelog is read instead). Writes
``<out>/<package>__<name>.jpg`` (RGB, longer side at most ``MAX_SIDE`` by Lanczos, JPEG quality 95)
and ``<out>/SOURCES.tsv`` with the columns of data/photos/train_extra.tsv (file, width, height,
source_package, source_path, package_version, licence, notes; notes ends with the photo's kind).
"""

from __future__ import annotations

import argparse
import gzip
import re
import sys
from pathlib import Path

import numpy as np
from PIL import Image

MAX_SIDE = 1024  #: the output's longer side (Lanczos downscaling only)
MIN_SIDE = 256  #: a source whose shorter side is smaller is an error: the list below has none
MAX_HASH_DISTANCE = 80  #: of 512 bits: closer than this to a reference photo counts as a duplicate
NOTES = f"RGB, longer side<={MAX_SIDE} Lanczos, JPEG q95"

#: Licence of the chosen files, as stated in each package's debian/copyright.
LICENCES = {
    "digikam-data": "GPL-2+ (debian/copyright: digiKam, GPL-2+; about-page image provenance not stated)",
    "gimp-help-en": "GFDL-NIV-1.2+ (gimp-help-common debian/copyright Files: *, The GIMP Documentation Team)",
    "gnome-control-center-data": (
        "GPL-2+ and GPL-3+ and LGPL-2.1+ and LGPL-2+ and Expat and CC0-1.0 (debian/copyright Files: *; "
        "avatar photos in pixmaps/faces not itemised)"
    ),
    "hugin-data": "GPL-2+ (debian/copyright Files: *, Hugin authors)",
    "libjs-cropper": "BSD (debian/copyright Files: *, (c) 2006-2011 David Spurr; tests/ image provenance not stated)",
    "libjs-jquery-colorbox": (
        "MIT (debian/copyright Files: *, (c) 2013 Jack Moore; example-photo provenance not stated)"
    ),
    "libjs-jquery-ui-docs": "CC0 (debian/copyright Files: demos/*, jQuery UI)",
    "libjs-slimbox": "MIT (debian/copyright, lists example.jpg, (c) 2007 Christophe Beyls)",
    "libvips-doc": "LGPL-2.1 (debian/copyright Files: *, John Cupitt et al.)",
    "qtbase5-examples": "BSD-3-clause (debian/copyright Files: examples/*, The Qt Company)",
    "qtdeclarative5-examples": "BSD-3-clause (debian/copyright Files: examples/*, The Qt Company)",
    "scribus-template": "public domain (debian/copyright: templates by Riku Leino placed in the public domain)",
}
PACKAGES = tuple(sorted(LICENCES))  #: what to `apt-get download` (Debian bookworm)

_QT5 = "usr/lib/x86_64-linux-gnu/qt5/examples"  # the Qt examples packages are arch-specific (amd64 paths)
_JQUI = "usr/share/doc/libjs-jquery-ui-docs/examples/droppable/images"
_GIMP = "usr/share/gimp/2.0/help/en/images"
#: (package, path inside the package, kind); kind is people, everyday or landscape.
PHOTOS: tuple[tuple[str, str, str], ...] = (
    ("libjs-jquery-colorbox", "usr/share/doc/libjs-jquery-colorbox/examples/content/ohoopee1.jpg", "people"),
    ("libjs-jquery-colorbox", "usr/share/doc/libjs-jquery-colorbox/examples/content/ohoopee3.jpg", "people"),
    ("libjs-jquery-colorbox", "usr/share/doc/libjs-jquery-colorbox/examples/content/daisy@2x.jpg", "everyday"),
    ("libjs-jquery-ui-docs", f"{_JQUI}/high_tatras3.jpg", "people"),
    ("libjs-jquery-ui-docs", f"{_JQUI}/high_tatras4.jpg", "people"),
    ("libjs-jquery-ui-docs", f"{_JQUI}/high_tatras.jpg", "landscape"),
    ("libjs-jquery-ui-docs", f"{_JQUI}/high_tatras2.jpg", "landscape"),
    ("gnome-control-center-data", "usr/share/pixmaps/faces/surfer.jpg", "people"),
    ("gnome-control-center-data", "usr/share/pixmaps/faces/bicycle.jpg", "everyday"),
    ("gnome-control-center-data", "usr/share/pixmaps/faces/book.jpg", "everyday"),
    ("gnome-control-center-data", "usr/share/pixmaps/faces/cat.jpg", "everyday"),
    ("gnome-control-center-data", "usr/share/pixmaps/faces/coffee2.jpg", "everyday"),
    ("gnome-control-center-data", "usr/share/pixmaps/faces/flower2.jpg", "everyday"),
    ("gnome-control-center-data", "usr/share/pixmaps/faces/headphones.jpg", "everyday"),
    ("gnome-control-center-data", "usr/share/pixmaps/faces/hummingbird.jpg", "everyday"),
    ("gnome-control-center-data", "usr/share/pixmaps/faces/mountain.jpg", "landscape"),
    ("gnome-control-center-data", "usr/share/pixmaps/faces/plane.jpg", "everyday"),
    ("gnome-control-center-data", "usr/share/pixmaps/faces/tomatoes.jpg", "everyday"),
    ("gnome-control-center-data", "usr/share/pixmaps/faces/tree.jpg", "landscape"),
    ("scribus-template", "usr/share/scribus/templates/menu2/pizza.jpg", "everyday"),
    ("scribus-template", "usr/share/scribus/templates/br2/nature.jpg", "landscape"),
    ("scribus-template", "usr/share/scribus/templates/br2/sunset.jpg", "landscape"),
    ("libjs-cropper", "usr/share/doc/libjs-cropper/tests/castleMed.jpg", "landscape"),
    ("libjs-slimbox", "usr/share/doc/libjs-slimbox/examples/example.jpg", "everyday"),
    ("libvips-doc", "usr/share/gtk-doc/html/libvips/owl.jpg", "everyday"),
    ("digikam-data", "usr/share/digikam/about/images/body-background.jpg", "landscape"),
    ("qtdeclarative5-examples", f"{_QT5}/quick/views/listview/content/pics/fruit-salad.jpg", "everyday"),
    ("qtdeclarative5-examples", f"{_QT5}/quick/customitems/scrollbar/pics/niagara_falls.jpg", "landscape"),
    ("qtdeclarative5-examples", f"{_QT5}/quick/particles/images/backgroundLeaves.jpg", "everyday"),
    ("qtbase5-examples", f"{_QT5}/widgets/graphicsview/weatheranchorlayout/images/place.jpg", "landscape"),
    ("qtbase5-examples", f"{_QT5}/widgets/painting/affine/bg1.jpg", "landscape"),
    ("qtbase5-examples", f"{_QT5}/widgets/painting/composition/flower.jpg", "everyday"),
    ("hugin-data", "usr/share/hugin/xrc/data/help_en_EN/800px-C_Marchi-GrandCentral-adj.jpg", "people"),
    ("hugin-data", "usr/share/hugin/xrc/data/help_en_EN/CA_fringes00.jpg", "landscape"),
    ("hugin-data", "usr/share/hugin/xrc/data/help_en_EN/CA_tCA00.jpg", "everyday"),
    ("gimp-help-en", f"{_GIMP}/filters/examples/taj_orig.jpg", "everyday"),
    ("gimp-help-en", f"{_GIMP}/filters/examples/blur/mean_curvature-ex-1.jpg", "everyday"),
    ("gimp-help-en", f"{_GIMP}/filters/examples/colors-retinex1.png", "everyday"),
    ("gimp-help-en", f"{_GIMP}/tutorials/tone-mapping/apple-orchard-truck-from-camera.jpg", "everyday"),
    ("gimp-help-en", f"{_GIMP}/tutorials/tone-mapping/power-lines.jpg", "landscape"),
    ("gimp-help-en", f"{_GIMP}/using/keyfob_orig.png", "everyday"),
)  # fmt: skip


def package_version(pkg_root: Path, package: str) -> str:
    """The Debian version of an extracted package: its DEBIAN/control (``dpkg-deb -R``), else its changelog."""
    control = pkg_root / "DEBIAN/control"
    if control.is_file():
        match = re.search(r"^Version: (\S+)$", control.read_text(encoding="utf-8", errors="replace"), re.M)
        if match:
            return match.group(1)
    doc = pkg_root / "usr/share/doc" / package
    for name in ("changelog.Debian.gz", "changelog.gz"):
        path = doc / name
        if path.is_file():
            head = gzip.open(path, "rt", encoding="utf-8", errors="replace").readline()
            match = re.match(r"\S+ \(([^)]+)\)", head)
            if match:
                return match.group(1)
    return "unknown"


def photo_hash(image: Image.Image) -> np.ndarray:
    """512-bit difference hash: 16x16 horizontal and 16x16 vertical gradient signs of the grayscale image."""
    gray = image.convert("L")
    horizontal = np.asarray(gray.resize((17, 16), Image.LANCZOS), np.float32)
    vertical = np.asarray(gray.resize((16, 17), Image.LANCZOS), np.float32)
    return np.concatenate([(horizontal[:, 1:] > horizontal[:, :-1]).ravel(), (vertical[1:] > vertical[:-1]).ravel()])


def reference_hashes(photos_dir: Path) -> dict[str, np.ndarray]:
    """Hashes of every image under ``photos_dir`` (train, train_extra, val, test), keyed by relative path."""
    refs = {}
    for path in sorted(photos_dir.rglob("*")):
        if path.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp"}:
            with Image.open(path) as im:
                refs[str(path.relative_to(photos_dir))] = photo_hash(im.convert("RGB"))
    return refs


def prepare(path: Path) -> Image.Image:
    """The photo at ``path`` as RGB, its longer side at most ``MAX_SIDE`` (Lanczos)."""
    with Image.open(path) as im:
        image = im.convert("RGB")
    if min(image.size) < MIN_SIDE:
        raise ValueError(f"{path}: {image.size} is smaller than {MIN_SIDE} pixels on its shorter side")
    scale = MAX_SIDE / max(image.size)
    if scale < 1:
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
    return image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, nargs="?", help="folder holding each package extracted as <root>/<package>/")
    parser.add_argument("out", type=Path, nargs="?", help="output folder for the JPEGs and SOURCES.tsv")
    parser.add_argument("--check", type=Path, metavar="PHOTOS", help="refuse near-duplicates of images here")
    parser.add_argument("--list-packages", action="store_true", help="print PACKAGES, one a line, and exit")
    args = parser.parse_args(argv)
    if args.list_packages:
        print("\n".join(PACKAGES))
        return 0
    if args.root is None or args.out is None:
        parser.error("root and out are required")
    missing = [p for p in PACKAGES if not (args.root / p).is_dir()]
    if missing:
        print(f"error: not extracted under {args.root}: {' '.join(missing)}", file=sys.stderr)
        return 2
    refs = reference_hashes(args.check) if args.check else {}
    args.out.mkdir(parents=True, exist_ok=True)
    rows = ["file\twidth\theight\tsource_package\tsource_path\tpackage_version\tlicence\tnotes"]
    kinds: dict[str, int] = {}
    for package, rel, kind in PHOTOS:
        image = prepare(args.root / package / rel)
        name = f"{package}__{Path(rel).stem}.jpg"
        bits = photo_hash(image)
        near = [(int((bits != h).sum()), ref) for ref, h in refs.items()]
        close = min(near, default=(MAX_HASH_DISTANCE, ""))
        if close[0] < MAX_HASH_DISTANCE:
            print(f"error: {name} is {close[0]} bits from {close[1]}: a near-duplicate", file=sys.stderr)
            return 1
        refs[f"(new) {name}"] = bits
        tmp = args.out / f".{name}.tmp"
        image.save(tmp, "JPEG", quality=95)
        tmp.replace(args.out / name)
        version = package_version(args.root / package, package)
        rows.append(
            f"{name}\t{image.width}\t{image.height}\t{package}\t{package}/{rel}\t{version}\t{LICENCES[package]}\t"
            f"{NOTES}; {kind}"
        )
        kinds[kind] = kinds.get(kind, 0) + 1
    (args.out / "SOURCES.tsv").write_text("\n".join(rows) + "\n")
    summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    print(f"wrote {len(rows) - 1} photos to {args.out} ({summary})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
