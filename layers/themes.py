"""The fixed theme vocabulary that places are tagged with (data/sources/places.csv `themes`)."""
from __future__ import annotations

from geo.errors import ParkmapError

# id -> (label_zh, label_en). Ids are what places.csv and the API use; labels are for display.
THEMES: dict[str, tuple[str, str]] = {
    "ai": ("人工智能", "Artificial intelligence"),
    "bigdata": ("大数据与云计算", "Big data and cloud"),
    "blockchain": ("区块链", "Blockchain"),
    "fintech": ("金融科技与数字金融", "Fintech and digital finance"),
    "finance": ("金融服务与投资", "Financial services and investment"),
    "ecommerce": ("电子商务与新零售", "E-commerce and new retail"),
    "trade": ("贸易与数字贸易", "Trade and digital trade"),
    "fashion": ("时尚创意", "Fashion and creative industries"),
    "media": ("文娱与数字媒体", "Entertainment and digital media"),
    "esports": ("电竞", "E-sports"),
    "health": ("医疗健康", "Health and medical"),
    "aviation": ("航空与临空经济", "Aviation and airport economy"),
    "mobility": ("智慧出行与智能网联", "Smart mobility and connected vehicles"),
    "research": ("科研院所与大学", "Research institutes and universities"),
    "incubation": ("科创孵化与成果转化", "Incubation and technology transfer"),
    "exhibition": ("会展", "Exhibitions and conventions"),
    "services": ("专业服务与总部经济", "Professional services and headquarters"),
}


class UnknownTheme(ParkmapError):
    status = 400


def parse_themes(text: str, where: str = "themes") -> list[str]:
    """`;`-separated theme ids -> list, rejecting ids outside the vocabulary."""
    ids = [t.strip() for t in (text or "").split(";") if t.strip()]
    unknown = [t for t in ids if t not in THEMES]
    if unknown:
        raise UnknownTheme(f"{where}: unknown theme(s) {', '.join(unknown)}; "
                           f"known: {', '.join(THEMES)}")
    return ids


def theme_labels(lang: str = "en") -> dict[str, str]:
    """Theme id -> label in ``lang`` ("zh" or "en")."""
    i = 0 if lang == "zh" else 1
    return {k: v[i] for k, v in THEMES.items()}
