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

After each Table 1 it prints, from the same run's tables: every system's WA / UA per seed (the
score stage's ``seeds.parquet``, folds pooled, with CIs), each system against each baseline per
seed on the pooled test utterances (the significance stage's ``seeds.parquet``: paired-bootstrap
CI of the UA difference, McNemar), and the training runs' epochs, flags and minutes
(``metrics.json``, ``history.parquet``).

``--presets strong`` runs one of them; ``--seeds 1 2`` trains and scores only those seeds (a
machine that cannot train all three in one sitting runs them one at a time; the work folder must
then survive between sittings); ``--target`` chooses what Snakemake builds (default
``table1 report``; ``all`` adds nothing the table needs); ``--overlay FILE`` lays a config file over
both presets (e.g. fewer CSA contexts when the machine's time is short; docs/benchmarks.md says
which were used). A run that was stopped resumes: finished jobs are kept, a training job that was
killed resumes from its last epoch checkpoint (``--rerun-incomplete``).
"""

from __future__ import annotations

import argparse
import json
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
               overlays: list[Path], seeds: list[int]) -> float:
    """Run Snakemake for one preset; returns the wall time in seconds."""
    workdir.mkdir(parents=True, exist_ok=True)
    machine = workdir / "machine.yaml"  # where this machine keeps the corpus, and the seeds run
    machine.write_text(yaml.safe_dump({"corpus": {"root": str(emodb)}, "train": {"seeds": seeds}}))
    configfiles = [str(REPO / path) for path in PRESETS[name]] + [str(machine)]
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


def with_ci(row: dict, metric: str, signed: bool = False) -> str:
    form = "{:+.1f}" if signed else "{:.1f}"
    low, high = (form.format(100 * row[f"{metric}_ci_low"]), form.format(100 * row[f"{metric}_ci_high"]))
    return f"{form.format(100 * row[metric])} [{low}, {high}]"


def per_seed_scores(results: Path, systems: list[str]) -> str:
    """Every system's pooled WA / UA per seed, with CIs (score stage, ``seeds.parquet``)."""
    lines = ["| system | seed | WA % [CI] | UA % [CI] |", "|---|---|---|---|"]
    for system in systems:
        seeds = pl.read_parquet(results / layout.score_file("seeds", system, root=""))
        for row in seeds.filter(pl.col("level") == "utterance").sort("seed").iter_rows(named=True):
            lines.append(f"| {system} | {row['seed']} | {with_ci(row, 'wa')} | {with_ci(row, 'ua')} |")
    return "\n".join(lines)


def against_baselines(results: Path) -> str:
    """Each system against each baseline, per seed on the pooled test utterances (significance)."""
    seeds = pl.read_parquet(results / layout.SIGNIFICANCE_OUTPUTS["seeds"])
    baselines = set(layout.BASELINE_SYSTEMS.values())
    lines = ["| seed | A | B | n | UA A − B [CI] | WA A − B | McNemar only A / only B, p |",
             "|---|---|---|---|---|---|---|"]
    for row in seeds.filter(pl.col("system_a").is_in(baselines)).sort("seed").iter_rows(named=True):
        # Rows are (baseline, system); print them as system − baseline.
        flipped = {"ua_diff": -row["ua_diff"], "ua_diff_ci_low": -row["ua_diff_ci_high"],
                   "ua_diff_ci_high": -row["ua_diff_ci_low"]}
        lines.append(f"| {row['seed']} | {row['system_b']} | {row['system_a']} | {row['n']} | "
                     f"{with_ci(flipped, 'ua_diff', signed=True)} | {-100 * row['wa_diff']:+.1f} | "
                     f"{row['mcnemar_only_b_correct']} / {row['mcnemar_only_a_correct']}, "
                     f"{row['mcnemar_pvalue']:.2g} |")
    return "\n".join(lines)


def training_runs(results: Path, seeds: list[int]) -> str:
    """Per model: runs, epochs, best epochs, the report's flags and minutes per run."""
    rows = []
    for seed in seeds:
        for path in sorted((results / "train").rglob(f"seed{seed}/{layout.RUN_FILES['metrics']}")):
            metrics = json.loads(path.read_text())
            seconds = pl.read_parquet(path.with_name(layout.RUN_FILES["history"]))["seconds"].sum()
            rows.append({"model": metrics["model"], "context": metrics["context"], "seed": seed,
                         "epochs": metrics["epochs"], "best_epoch": metrics["best_epoch"],
                         "never_improved": metrics["never_improved"],
                         "may_be_undertrained": metrics["may_be_undertrained"], "minutes": seconds / 60})
    if not rows:
        return "(no finished training runs)"
    table = pl.DataFrame(rows).group_by("model", "context", maintain_order=True).agg(
        pl.len().alias("runs"), pl.col("best_epoch").min().alias("best_min"),
        pl.col("best_epoch").max().alias("best_max"), pl.col("epochs").max().alias("epochs_max"),
        pl.col("never_improved").sum(), pl.col("may_be_undertrained").sum(), pl.col("minutes").mean())
    lines = ["| model | runs | best epoch | most epochs run | never improved | may be undertrained | "
             "min per run (Σ epoch times) |", "|---|---|---|---|---|---|---|"]
    for row in table.iter_rows(named=True):
        name = layout.trained_system(row["model"], row["context"])
        lines.append(f"| {name} | {row['runs']} | {row['best_min']}–{row['best_max']} | {row['epochs_max']} | "
                     f"{row['never_improved']} | {row['may_be_undertrained']} | {row['minutes']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--emodb", type=Path, default=Path("/tmp/emodb/download"),
                        help="the EmoDB release's download/ folder")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/emocue-real-speech"))
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--presets", nargs="+", choices=list(PRESETS), default=list(PRESETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=None,
                        help="train and score only these seeds (default: the preset's train.seeds)")
    parser.add_argument("--target", nargs="+", default=["table1", "report"])
    parser.add_argument("--overlay", type=Path, action="append", default=[],
                        help="a config file laid over both presets (repeatable)")
    args = parser.parse_args()
    if not (args.emodb / "wav").is_dir():
        parser.error(f"--emodb {args.emodb}: no wav/ folder; export the release's download/ folder first")
    seeds = args.seeds or yaml.safe_load((REPO / PRESETS["paper-cpu"][0]).read_text())["train"]["seeds"]
    times = {name: run_preset(name, args.emodb.resolve(), args.workdir / name, args.cores, args.target,
                              args.overlay, seeds)
             for name in args.presets}
    for name in args.presets:  # Table 1 as the workflow renders it (emocue.table1), one per preset
        results = args.workdir / name / "results"
        systems = pl.read_parquet(results / layout.TABLE1_OUTPUTS["table"])["system"].to_list()
        print(f"\n### {name}\n")
        print((results / layout.TABLE1_OUTPUTS["markdown"]).read_text())
        print(f"\n#### {name}: per seed, folds pooled\n\n{per_seed_scores(results, systems)}")
        print(f"\n#### {name}: against the baselines, per seed\n\n{against_baselines(results)}")
        print(f"\n#### {name}: training runs\n\n{training_runs(results, seeds)}")
    print("\n| preset | wall time | summed job time |\n|---|---|---|")
    for name in args.presets:
        print(f"| {name} | {times[name] / 60:.1f} min | {job_seconds(args.workdir / name) / 60:.1f} min |")


if __name__ == "__main__":
    main()
