"""README.md stays true: its INI key table is the one generated from the code."""

from pathlib import Path

from nkl.ini_reference import BEGIN, END, key_table_markdown

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_key_table_is_current() -> None:
    text = README.read_text(encoding="utf-8")
    current = text[text.index(BEGIN): text.index(END) + len(END)]
    assert current == key_table_markdown(), "README key table is stale: run python -m nkl.ini_reference and paste it"


def test_readme_names_every_example() -> None:
    text = README.read_text(encoding="utf-8")
    for ini in (README.parent / "examples" / "emodb").glob("*.ini"):
        assert ini.name in text
