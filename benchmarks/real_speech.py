"""Real-speech benchmark (docs/benchmarks.md, "Real speech"): the whole workflow on EmoDB.

Runs Snakemake twice on the EmoDB release (workflow/presets/emodb.yaml: 4 classes, leave one
speaker out over the 10 speakers, 3 seeds), each into its own work folder:

1. ``paper-cpu`` — emodb.yaml alone: the paper's recipe with CPU-sized models;
2. ``strong`` — emodb.yaml with workflow/presets/strong.yaml laid over it.

Both include the classical baseline (eGeMAPS v02 + linear SVM / logistic regression, C on the same
validation split), scored like every other system. Prints, as Markdown for docs/benchmarks.md,
each run's Table 1 (every system's WA / UA with bootstrap CIs: the score stage's seed-mean and its
CI over test utterances) and each run's wall time and summed job time.

The corpus is the EmoDB snapshot (README, "Corpora"), exported to a folder outside the repository:

    git --git-dir <mirror>/repo/.git archive 0ab7cbee0e7acf68c749258ea5a6184dcae2a9e8 download \\
        | tar -x -C /tmp/emodb
    .venv/bin/python benchmarks/real_speech.py --emodb /tmp/emodb/download --cores 2

``--presets strong`` runs one of them; ``--target`` chooses what Snakemake builds (default
``table1 report``; ``all`` adds nothing the table needs); ``--overlay FILE`` lays a config file over
both presets (e.g. fewer CSA contexts when the machine's time is short; docs/benchmarks.md says
which were used). A run that was stopped resumes: finished jobs are kept, a training job that was
killed resumes from its last epoch checkpoint (``--rerun-incomplete``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))

from emocue import layout  # noqa: E402

PRESETS = {
    "paper-cpu": ["workflow/presets/emodb.yaml"],
    "strong": ["workflow/presets/emodb.yaml", "workflow/presets/strong.yaml"],
}


def run_preset(name: str, emodb: Path, workdir: Path, cores: int, targets: list[str],
               overlays: list[Path]) -> float:
    """Run Snakemake for one preset; returns the wall time in seconds."""
    workdir.mkdir(parents=True, exist_ok=True)
    corpus_root = workdir / "corpus_root.yaml"  # where this machine keeps the corpus
    corpus_root.write_text(yaml.safe_dump({"corpus": {"root": str(emodb)}}))
    configfiles = [str(REPO / path) for path in PRESETS[name]] + [str(corpus_root)]
    configfiles += [str(path.resolve()) for path in overlays]
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
               "--cores", str(cores), "--rerun-incomplete", *targets, "--configfile", *configfiles]
    print("$", " ".join(command), flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - started


def job_seconds(workdir: Path) -> float:
    """CPU-time proxy: the summed wall seconds (`s`) of every job's Snakemake benchmark file."""
    files = sorted((workdir / "results" / "benchmarks").rglob("*.tsv"))
    return float(sum(pl.read_csv(path, separator="\t")["s"].sum() for path in files))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--emodb", type=Path, default=Path("/tmp/emodb/download"),
                        help="the EmoDB release's download/ folder")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/emocue-real-speech"))
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--presets", nargs="+", choices=list(PRESETS), default=list(PRESETS))
    parser.add_argument("--target", nargs="+", default=["table1", "report"])
    parser.add_argument("--overlay", type=Path, action="append", default=[],
                        help="a config file laid over both presets (repeatable)")
    args = parser.parse_args()
    if not (args.emodb / "wav").is_dir():
        parser.error(f"--emodb {args.emodb}: no wav/ folder; export the release's download/ folder first")
    times = {name: run_preset(name, args.emodb.resolve(), args.workdir / name, args.cores, args.target,
                              args.overlay)
             for name in args.presets}
    for name in args.presets:  # Table 1 as the workflow renders it (emocue.table1), one per preset
        print(f"\n### {name}\n")
        print((args.workdir / name / "results" / layout.TABLE1_OUTPUTS["markdown"]).read_text())
    print("\n| preset | wall time | summed job time |\n|---|---|---|")
    for name in args.presets:
        print(f"| {name} | {times[name] / 60:.1f} min | {job_seconds(args.workdir / name) / 60:.1f} min |")


if __name__ == "__main__":
    main()
