"""Every test the Security page cites exists, so the page cannot cite a proof that is gone."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "security.md"


def test_every_cited_test_file_and_test_exists() -> None:
    cited = re.findall(r"`((?:tests|fuzz)/[^`:]*)(?:::(\w+))?`", PAGE.read_text())
    assert len(cited) >= 10
    for path, name in cited:
        target = ROOT / path
        assert target.exists(), f"the Security page cites {path}, which does not exist"
        if name:
            assert f"def {name}(" in target.read_text(), f"{path} has no test {name}"


def test_the_page_covers_each_threat() -> None:
    text = PAGE.read_text()
    for threat in ("SSRF", "Replay", "Forgery", "Timing", "Secret leakage", "Resource exhaustion"):
        assert f"**{threat}**" in text
