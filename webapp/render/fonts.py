"""Find a font that has Chinese glyphs, so static figures show 长宁 rather than tofu boxes.

Matplotlib's font list is searched first; fonts fontconfig knows for ``:lang=zh`` are added
to it when the list has none (a font installed after matplotlib built its cache). A font
counts only if its character map really covers :data:`PROBE`.
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache

from matplotlib import font_manager, ft2font

from geo.errors import ParkmapError

PROBE = "长宁静安区园"  # characters every figure title and label set uses
# Tried first, in this order (simplified-Chinese faces of the usual Linux/macOS/Windows fonts).
PREFERRED = ("Noto Sans CJK SC", "Source Han Sans SC", "Noto Sans SC", "WenQuanYi Zen Hei",
             "WenQuanYi Micro Hei", "Droid Sans Fallback", "PingFang SC", "Microsoft YaHei",
             "SimHei")
INSTALL_HINT = "install a CJK font, e.g. `apt-get install fonts-noto-cjk`"


class FontUnavailable(ParkmapError):
    """No Chinese-capable font on this machine: figures would show boxes instead of text."""

    status = 503


@dataclass(frozen=True)
class CJKFont:
    name: str  # family name matplotlib knows it by
    path: str
    index: int = 0  # face within a .ttc collection


def covers(path: str, index: int = 0, text: str = PROBE) -> bool:
    """True if the face at ``path``/``index`` has a glyph for every character of ``text``."""
    try:
        charmap = ft2font.FT2Font(path, face_index=index).get_charmap()
    except (OSError, RuntimeError, ValueError):
        return False
    return all(ord(ch) in charmap for ch in text)


def _rank(entry) -> tuple:
    name = entry.name
    preferred = PREFERRED.index(name) if name in PREFERRED else len(PREFERRED)
    return (preferred, "Mono" in name, "Serif" in name, abs(entry.weight - 400) if isinstance(
        entry.weight, int) else 0, name)


def find_cjk_font(entries=None) -> CJKFont | None:
    """The best font among matplotlib ``entries`` (default: its font list) covering PROBE."""
    entries = font_manager.fontManager.ttflist if entries is None else entries
    for entry in sorted(entries, key=_rank):
        if covers(entry.fname, getattr(entry, "index", 0)):
            return CJKFont(entry.name, entry.fname, getattr(entry, "index", 0))
    return None


def _register_fontconfig_fonts() -> bool:
    """Add the files ``fc-list :lang=zh`` reports to matplotlib's list; True if any were added."""
    fc_list = shutil.which("fc-list")
    if not fc_list:
        return False
    try:
        out = subprocess.run([fc_list, ":lang=zh", "file"], capture_output=True, text=True,
                             timeout=20, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    known = {e.fname for e in font_manager.fontManager.ttflist}
    added = False
    for line in out.splitlines():
        path = line.split(":")[0].strip()
        if path and path not in known:
            try:
                font_manager.fontManager.addfont(path)
                added = True
            except (OSError, RuntimeError, ValueError):
                continue
    return added


@lru_cache(maxsize=1)
def cjk_font() -> CJKFont:
    """The CJK font figures use; raises FontUnavailable with an install hint if there is none."""
    found = find_cjk_font()
    if found is None and _register_fontconfig_fonts():
        found = find_cjk_font()
    if found is None:
        raise FontUnavailable(f"no font with Chinese glyphs found for figures; {INSTALL_HINT}")
    return found
