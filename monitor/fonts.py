"""A font that draws Chinese in charts, so 认知错位 is not four tofu boxes.

First choice: Noto Sans SC (SIL Open Font License 1.1) from the PyPI package
``pylopdf-fonts-zh-cn`` (the ``monitor`` extra), which ships the font file itself. Otherwise
any system font that has every glyph the charts need (checked in its character map, not
guessed from its name), with a warning; with none, charts fall back to English label names
and say so.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from classifier.labels import CHINESE_NAMES

PACKAGED_FONT = ("pylopdf_fonts_zh_cn", "NotoSansSC-Regular.otf")
CHART_TEXT = "".join(CHINESE_NAMES.values()) + "需求波动指数投诉原因构成标签占比"
"""Every Chinese character the charts write themselves (segment values may need more)."""
_SYSTEM_HINTS = ("cjk", "noto", "wqy", "hei", "song", "ming", "kai", "han", "droid", "pingfang", "yahei", "sc", "cn")


@dataclass(frozen=True)
class ChartFont:
    path: Path | None
    family: str
    chinese: bool
    warning: str | None = None


def covers(path: Path, text: str) -> bool:
    """Whether the font's character map has a glyph for every character of ``text``."""
    from fontTools.ttLib import TTFont

    try:
        with TTFont(path, fontNumber=0, lazy=True) as font:
            cmap = font.getBestCmap() or {}
    except Exception:  # an unreadable or exotic font file is simply not a candidate
        return False
    return all(ord(ch) in cmap for ch in text if not ch.isspace())


def packaged_font() -> Path | None:
    """Noto Sans SC from the `monitor` extra, when installed (the review UI serves it too)."""
    spec = importlib.util.find_spec(PACKAGED_FONT[0])
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / PACKAGED_FONT[1]
    return path if path.is_file() else None


def _system_candidates() -> list[Path]:
    from matplotlib import font_manager

    paths = sorted(Path(p) for p in font_manager.findSystemFonts())
    return [p for p in paths if any(hint in p.name.lower() for hint in _SYSTEM_HINTS)]


def _family(path: Path) -> str:
    from matplotlib import font_manager

    font_manager.fontManager.addfont(str(path))
    return font_manager.FontProperties(fname=str(path)).get_name()


@lru_cache(maxsize=1)
def chart_font() -> ChartFont:
    packaged = packaged_font()
    if packaged is not None and covers(packaged, CHART_TEXT):
        return ChartFont(packaged, _family(packaged), chinese=True)
    for path in _system_candidates():
        if covers(path, CHART_TEXT):
            return ChartFont(
                path,
                _family(path),
                chinese=True,
                warning=f"Noto Sans SC (pip install 'needlens[monitor]') not found; charts use the system font {path}",
            )
    return ChartFont(
        None,
        "DejaVu Sans",
        chinese=False,
        warning="no font with Chinese glyphs found (pip install 'needlens[monitor]'): charts use English label names",
    )
