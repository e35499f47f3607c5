"""Reading rendered reports back: PDF text (pdftotext), page images (pdftoppm), HTML references."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

# A script or stylesheet fetched from the network: what an offline HTML page must not have.
REMOTE_REF = re.compile(r"<(script|link)\b[^>]*\b(src|href)\s*=\s*[\"']?\s*(https?:)?//", re.IGNORECASE)
CSS_IMPORT = re.compile(r"@import\s+(url\()?[\"']?(https?:)?//", re.IGNORECASE)


def need_poppler() -> None:
    if shutil.which("pdftotext") is None or shutil.which("pdftoppm") is None:
        pytest.skip("poppler-utils (pdftotext, pdftoppm) not installed; scripts/setup.sh installs it")


def pdf_text(pdf: Path) -> str:
    """The PDF's text in reading order, whitespace collapsed, Typst's minus signs (U+2212) read as '-'."""
    need_poppler()
    out = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return " ".join(out.replace("\u2212", "-").split())


def page_pixels(pdf: Path, page: int, tmp: Path) -> np.ndarray:
    """One page rendered to a grey image (pdftoppm, 40 dpi) as an array of 0-255 values."""
    need_poppler()
    stem = tmp / f"page{page}"
    subprocess.run(["pdftoppm", "-gray", "-r", "40", "-f", str(page), "-l", str(page), "-singlefile", str(pdf), str(stem)], check=True)
    data = (tmp / f"page{page}.pgm").read_bytes()
    header = re.match(rb"P5\s+(\d+)\s+(\d+)\s+(\d+)\s", data)
    assert header, "pdftoppm did not write a binary PGM"
    width, height = int(header.group(1)), int(header.group(2))
    return np.frombuffer(data[header.end():header.end() + width * height], dtype=np.uint8).reshape(height, width)


def remote_references(html: str) -> list[str]:
    """Every script/stylesheet reference to the network (empty for an offline page)."""
    return [m.group(0) for m in REMOTE_REF.finditer(html)] + [m.group(0) for m in CSS_IMPORT.finditer(html)]
