"""emocue.layout: one place for every results path and system name (fast, no Snakemake)."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from conftest import REPO
from emocue import layout


def test_run_folders_and_files():
    assert layout.run_dir("blstmatt", "Session5", 2) == "results/train/blstmatt/Session5/seed2"
    assert layout.run_dir("csa", "Session5", 2, 30) == "results/train/csa/C30/Session5/seed2"
    assert layout.run_dir("csa", "{fold}", "{seed}", "{context}", root="") == \
        "train/csa/C{context}/{fold}/seed{seed}"  # Snakemake wildcards pass through
    assert layout.run_file("predictions", "blstmatt", "S", 1, root="/r") == \
        "/r/train/blstmatt/S/seed1/predictions.parquet"
    assert set(layout.run_outputs("blstmatt", "S", 1)) == {*layout.RUN_FILES_ALL_MODELS, "attention"}
    assert set(layout.run_outputs("csa", "S", 1, 30)) == {*layout.RUN_FILES_ALL_MODELS,
                                                          "chunk_predictions"}
    with pytest.raises(ValueError, match="context"):
        layout.run_dir("csa", "S", 1)
    with pytest.raises(ValueError, match="unknown model"):
        layout.run_dir("svm", "S", 1)


def test_system_names_have_one_spelling():
    assert layout.csa_system(30) == "CSA-C30" and layout.csa_context("CSA-C30") == 30
    assert layout.csa_context("BLSTMATT") is None and layout.csa_context("CSA C=30") is None
    assert layout.syscomb_weight_system(0.40) == "SYSComb-w0.4"
    assert layout.trained_system("blstmatt") == layout.BLSTMATT
    assert layout.trained_system("csa", 60) == "CSA-C60"
    assert layout.syscomb_with("eGeMAPS-SVM") == "SYSComb+eGeMAPS-SVM"
    assert layout.paper_systems([30, 60], 0.4) == ["BLSTMATT", "CSA-C30", "CSA-C60", "SYSComb",
                                                   "SYSComb-w0.4"]
    assert layout.score_file("summary", "CSA-C30") == "results/score/CSA-C30/summary.parquet"
    assert layout.stage_outputs(layout.TABLE1_OUTPUTS, root="")["html"] == "table1/table1.html"


def test_layout_imports_no_heavy_library():
    # The rules import it at every Snakemake start-up: no torch, polars or numpy.
    code = ("import sys; import emocue.layout; "
            "print(sorted({'torch', 'polars', 'numpy'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         env={"PYTHONPATH": str(REPO / "workflow")}).stdout
    assert out.strip() == "[]"


FILES_USING_LAYOUT = [
    *sorted((REPO / "workflow" / "rules").glob("*.smk")),
    *(REPO / "workflow" / "emocue" / f"{name}.py"
      for name in ("train", "sweep", "fusion", "scoring", "table1")),
    *sorted((REPO / "workflow" / "scripts").glob("*.py")),
]


@pytest.mark.parametrize("path", FILES_USING_LAYOUT, ids=lambda path: path.name)
def test_no_copy_of_a_run_file_name_or_system_name(path):
    """The run-folder file names and system-name spellings are written only in layout.py."""
    text = path.read_text()
    if path.suffix == ".py":
        tree = ast.parse(text)
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)}
        strings = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
                   and isinstance(node.value, str) and id(node) not in docstrings]
    else:  # code lines of a rule file, comments left out
        strings = [line.split("#")[0] for line in text.splitlines()]
    for string in strings:
        for name in layout.RUN_FILES.values():
            assert name not in string, f"{path.name} spells {name!r}; use emocue.layout.RUN_FILES"
        for copy in ("train/csa/C", "train/blstmatt", "CSA C=", "CSA-C", '"SYSComb"'):
            assert copy not in string, f"{path.name} spells {copy!r}; use emocue.layout"
