"""Workflow overhead: `snakemake -n` on an IEMOCAP-sized corpus, and the demo's no-op rerun.

1. Dry run (target ≤ 5 s): the paper preset (workflow/presets/paper.yaml: full CSA sweep 20..120,
   3 seeds) on a manifest corpus of `--utterances` synthetic rows (default 10 000, like IEMOCAP)
   over 5 sessions, each pointing at an empty placeholder wav (the corpus rule lists a session's
   audio files as inputs, so they must exist; no audio is read). Timed from scratch (nothing built).
2. No-op rerun (target ≤ 5 s): `snakemake --cores 2` on the demo config (config.yaml) when every
   output is up to date. By default the finished demo is faked (every output created empty, then
   `snakemake --touch`, see tests/finished_workflow.py), which costs Snakemake the same DAG, mtime
   and metadata checks as a real one; `--demo-workdir DIR` times a real finished run instead
   (e.g. the repository after `make demo`).

Each command runs `--repeats` times in a fresh process (start-up and Snakefile parsing included);
best and median are printed.

    .venv/bin/python benchmarks/dag.py [--utterances 10000] [--repeats 3] [--demo-workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from finished_workflow import mark_outputs_up_to_date  # noqa: E402

SESSIONS = [f"Session{n}" for n in range(1, 6)]
LABELS = ["neu", "hap", "exc", "ang", "sad", "fru"]


def write_manifest_corpus(root: Path, utterances: int) -> Path:
    """An IEMOCAP-shaped manifest (and empty placeholder wavs); returns the config to run."""
    rows = ["utt_id\tpath\tspeaker\tsession\tlabel\ttranscript"]
    for index in range(utterances):
        number = index % len(SESSIONS) + 1
        gender = "FM"[index // len(SESSIONS) % 2]
        utt_id = f"Ses0{number}{gender}_impro{index // 100:02d}_{gender}{index:05d}"
        path = Path("wav") / f"Session{number}" / f"{utt_id}.wav"
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).touch()
        rows.append(f"{utt_id}\t{path}\tSes0{number}{gender}\tSession{number}\t"
                    f"{LABELS[index % len(LABELS)]}\tsome words here")
    (root / "manifest.tsv").write_text("\n".join(rows) + "\n")
    config = yaml.safe_load((REPO / "workflow" / "presets" / "paper.yaml").read_text())
    config["corpus"].update(type="manifest", root=str(root), manifest=str(root / "manifest.tsv"))
    configfile = root / "config.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    return configfile


def snakemake_runner(workdir: Path, configfile: Path):
    def run(*args: str) -> str:
        cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
               "--configfile", str(configfile), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr[-4000:]}")
        return proc.stdout + proc.stderr
    return run


def child_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(run, args: tuple[str, ...], repeats: int) -> tuple[list[float], list[float], str]:
    """Wall-clock and CPU seconds (user + system of the Snakemake process) of each repeat."""
    wall, cpu, output = [], [], ""
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), child_cpu_seconds()
        output = run(*args)
        wall.append(time.perf_counter() - start)
        cpu.append(child_cpu_seconds() - cpu_start)
    return wall, cpu, output


def report(name: str, wall: list[float], cpu: list[float], target: float) -> None:
    """Wall time is what the target is about; CPU time shows it without the load of other processes."""
    verdict = "meets" if statistics.median(wall) <= target else "MISSES"
    print(f"{name}: wall best {min(wall):.2f} s, median {statistics.median(wall):.2f} s; "
          f"CPU median {statistics.median(cpu):.2f} s over {len(wall)} runs "
          f"({verdict} the ≤ {target:.0f} s target; load average {os.getloadavg()[0]:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--utterances", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--demo-workdir", type=Path, help="a finished demo run to time (default: a faked one)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="emocue-dag-") as tmp:
        corpus_dir = Path(tmp) / "corpus"
        corpus_dir.mkdir()
        configfile = write_manifest_corpus(corpus_dir, args.utterances)
        run = snakemake_runner(corpus_dir, configfile)
        wall, cpu, output = timed(run, ("-n",), args.repeats)
        total = next(line for line in output.splitlines() if line.startswith("total"))
        print(f"dry run, paper preset, {args.utterances} manifest rows over {len(SESSIONS)} sessions "
              f"({total.split()[-1]} jobs):")
        report("  snakemake -n", wall, cpu, 5.0)

        if args.demo_workdir:
            demo_dir = args.demo_workdir.resolve()
        else:
            demo_dir = Path(tmp) / "demo"
            demo_dir.mkdir()
        run = snakemake_runner(demo_dir, REPO / "config.yaml")
        if not args.demo_workdir:
            mark_outputs_up_to_date(run, demo_dir)
        wall, cpu, output = timed(run, ("--cores", "2"), args.repeats)
        if "Nothing to be done" not in output:
            sys.exit(f"the demo in {demo_dir} is not up to date:\n{output[-3000:]}")
        print(f"no-op rerun of the demo ({'real run in ' + str(demo_dir) if args.demo_workdir else 'faked finished run'}):")
        report("  snakemake --cores 2", wall, cpu, 5.0)


if __name__ == "__main__":
    main()
