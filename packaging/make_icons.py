"""Render Outthink's raster icons from ``assets/icons/outthink.svg``.

Usage: ``.venv/bin/python packaging/make_icons.py`` (needs PySide6 and Pillow, both dev tools).
The outputs are committed, so building the app needs neither this script nor a renderer:

* ``outthink-256.png``, ``outthink-512.png``: Linux launchers and the window icon;
* ``outthink.ico``: Windows (16 to 256 px in one file);
* ``outthink.icns``: macOS (16 to 1024 px).

Every size is rendered from the SVG itself rather than scaled down from a large bitmap, so
the small sizes stay sharp. ``--check`` renders into a temporary folder and fails when the
committed files differ, which catches an SVG edited without regenerating.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path

ICONS = Path(__file__).resolve().parent.parent / "assets" / "icons"
SOURCE = ICONS / "outthink.svg"
PNG_SIZES = (256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICNS_SIZES = (16, 32, 64, 128, 256, 512, 1024)


def render(svg: Path, sizes: set[int]) -> dict[int, object]:
    """Each size as an RGBA Pillow image, drawn by Qt's SVG renderer."""
    from PIL import Image
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    # A GUI application object must exist for QPainter; offscreen needs no display.
    app = QGuiApplication.instance() or QGuiApplication(["make_icons", "-platform", "offscreen"])
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg} is not an SVG that Qt can render")
    images: dict[int, object] = {}
    for size in sorted(sizes):
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(0)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        data = QByteArray()
        buffer = QBuffer(data)
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        image.save(buffer, "PNG")
        buffer.close()
        images[size] = Image.open(io.BytesIO(bytes(data.data()))).convert("RGBA")
    del app  # keep the instance alive until here
    return images


def write_icons(folder: Path, svg: Path = SOURCE) -> list[Path]:
    images = render(svg, {*PNG_SIZES, *ICO_SIZES, *ICNS_SIZES})
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for size in PNG_SIZES:
        path = folder / f"outthink-{size}.png"
        images[size].save(path, optimize=True)  # type: ignore[attr-defined]
        written.append(path)
    ico = folder / "outthink.ico"
    largest = images[max(ICO_SIZES)]
    largest.save(  # type: ignore[attr-defined]
        ico,
        sizes=[(s, s) for s in ICO_SIZES],
        append_images=[images[s] for s in ICO_SIZES if s != max(ICO_SIZES)],
    )
    written.append(ico)
    icns = folder / "outthink.icns"
    images[max(ICNS_SIZES)].save(  # type: ignore[attr-defined]
        icns, append_images=[images[s] for s in ICNS_SIZES if s != max(ICNS_SIZES)]
    )
    written.append(icns)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="fail if the committed icons are out of date"
    )
    args = parser.parse_args(argv)
    if not args.check:
        for path in write_icons(ICONS):
            print(f"wrote {path.relative_to(ICONS.parent.parent)} ({path.stat().st_size:,} bytes)")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        stale = [
            p.name
            for p in write_icons(Path(tmp))
            if not (ICONS / p.name).is_file() or (ICONS / p.name).read_bytes() != p.read_bytes()
        ]
    if stale:
        print(f"Out of date: {', '.join(stale)}; run packaging/make_icons.py", file=sys.stderr)
        return 1
    print("Icons are up to date.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
