"""Result tables written by the scripts name the command that wrote them and appear atomically."""

from tinct.io.tables import write_table


def test_write_table_records_the_command(tmp_path):
    path = write_table(tmp_path / "results" / "t.md", "| a |\n|---|\n| 1 |\n\n", argv=["scripts/x.py", "--out", "a b"])
    assert path.read_text() == "<!-- written by: python scripts/x.py --out 'a b' -->\n\n| a |\n|---|\n| 1 |\n"
    assert [p.name for p in path.parent.iterdir()] == ["t.md"]  # no temporary file left behind
