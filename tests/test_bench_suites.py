"""Every named suite at its --quick size: the real code on little data, a Markdown table beside
the papers' numbers, figures, and the sweeps' rows."""

import json

import pytest

from compvqc.bench.suites import SUITES
from compvqc.cli.main import main

PAPER = {  # a number of the paper's each suite's table must quote (from reference/compvqc_paper_results.json)
    "table2": "2.57", "table3": "0.8808", "fig6": None, "fig7": "vanilla metric 0.875", "table4": "0.79 / 0.99",
    "table5": "0.92 / 1.00", "hard": None,
}


@pytest.mark.parametrize("name", sorted(SUITES))
def test_every_suite_runs_at_its_quick_size(name, data_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COMPVQC_DATA", str(data_dir))
    assert main(["bench", "suite", name, "--quick", "--workers", "1", "-o", str(tmp_path), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    table = (tmp_path / f"{name}.md").read_text()
    assert d["table"] == table and table.startswith(f"## {name}: ") and "|---|" in table
    if PAPER[name]:
        assert PAPER[name] in table
    labels = [label for label, _ in SUITES[name].sweeps(True)]
    assert set(d["points"]) == set(labels) and all(n > 0 for n in d["points"].values())
    for label in labels:
        rows = (tmp_path / label / "points.jsonl").read_text().splitlines()
        assert len(rows) == d["points"][label]
        assert (tmp_path / label / "figures" / next(p.name for p in (tmp_path / label / "figures").glob("pareto-*.png")))


def test_an_unknown_suite_is_one_line(tmp_path, capsys):
    assert main(["bench", "suite", "table9", "-o", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and not (tmp_path / "x").exists()
