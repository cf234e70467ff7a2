"""Users do not have the project's internal notes: sources are cited by their papers, never by a file we keep."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_no_file_cites_reference_md():
    shipped = [*ROOT.joinpath("src").rglob("*.py"), *ROOT.joinpath("src").rglob("*.yaml"),
               *ROOT.joinpath("examples").rglob("*"), *ROOT.joinpath("benchmarks").rglob("*.py"), ROOT / "README.md"]
    citing = [str(p.relative_to(ROOT)) for p in shipped
              if p.is_file() and "REFERENCE.md" in p.read_text(errors="ignore")]
    assert citing == []
