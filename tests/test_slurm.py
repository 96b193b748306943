"""`snakemake --profile slurm` against a real one-node Slurm cluster (tests/slurm/).

The cluster (Debian Slurm 22.05, munge, a stand-in GPU) is started once for this module and always
stopped at the end. Snakemake runs from the repository root with the real profile `slurm/` plus the
test overlay `tests/slurm/profile/` (squeue status polling: the test cluster has no accounting
database). Skipped only where the Slurm binaries are missing (or not run as root).
Took 7 min in all on the 2-core dev machine while other suites ran (load average ~8), most of it the
tiny config through Slurm; the local run it is compared with is the shared `tiny_run` fixture.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
import torch
import yaml

from conftest import REPO, SNAKEMAKE, TINY_CONFIG

SLURM_TEST_DIR = REPO / "tests" / "slurm"
CLUSTER_BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel")
MISSING_BINARIES = [name for name in CLUSTER_BINARIES if shutil.which(name) is None]
PROFILES = ("--profile", "slurm", "--profile", "tests/slurm/profile")
SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+)")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        bool(MISSING_BINARIES),
        reason=f"Slurm test cluster: {', '.join(MISSING_BINARIES)} not installed "
        "(bash envs/setup.sh --test installs munge slurmctld slurmd slurm-client)",
    ),
    pytest.mark.skipif(os.geteuid() != 0, reason="the Slurm test cluster must run as root (slurmd)"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class SlurmCluster:
    state_dir: Path
    env: dict[str, str]  # os.environ plus SLURM_CONF pointing at this cluster

    def command(self, *args: str) -> str:
        return subprocess.run(args, env=self.env, check=True, capture_output=True, text=True,
                              timeout=60).stdout

    def job(self, job_id: str) -> dict[str, str]:
        """`scontrol show job` as a dict (the cluster keeps finished jobs for MinJobAge = 600 s)."""
        fields = self.command("scontrol", "show", "job", "--oneliner", job_id).split()
        return dict(field.split("=", 1) for field in fields if "=" in field)

    def logs(self) -> str:
        return "\n".join(f"--- {path.name}\n{path.read_text()[-3000:]}"
                         for path in sorted((self.state_dir / "log").glob("*")))

    def snakemake(self, workdir: Path, *args: str, check: bool = True,
                  timeout: float = 600) -> subprocess.CompletedProcess:
        """`snakemake --profile slurm --profile tests/slurm/profile ...` typed in the repo root."""
        cmd = [*SNAKEMAKE, *PROFILES, "-d", str(workdir), *args]
        proc = subprocess.run(cmd, cwd=REPO, env=self.env, capture_output=True, text=True,
                              timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode})\n--- stderr\n"
                                 f"{proc.stderr[-8000:]}\n{self.logs()}")
        return proc


@pytest.fixture(scope="module")
def slurm_cluster():
    state_dir = Path(tempfile.mkdtemp(prefix="emocue-slurm-"))
    env = {**os.environ, "SLURMCTLD_PORT": str(free_port()), "SLURMD_PORT": str(free_port())}
    try:
        started = subprocess.run([str(SLURM_TEST_DIR / "start_cluster.sh"), str(state_dir)], env=env,
                                 capture_output=True, text=True, timeout=120)
        assert started.returncode == 0, f"start_cluster.sh failed:\n{started.stderr}"
        slurm_conf = started.stdout.strip().splitlines()[-1].removeprefix("SLURM_CONF=")
        yield SlurmCluster(state_dir, {**os.environ, "SLURM_CONF": slurm_conf, "PYTHONUNBUFFERED": "1"})
    finally:
        subprocess.run([str(SLURM_TEST_DIR / "stop_cluster.sh"), str(state_dir)], timeout=120)
        shutil.rmtree(state_dir, ignore_errors=True)


def submitted_jobs(snakemake_log: str) -> dict[str, str]:
    """Snakemake job id -> Slurm job id, from the executor's 'has been submitted' lines (the last
    submission of a job: a failed job retried by the profile's `retries` is submitted again)."""
    return dict(SUBMITTED.findall(snakemake_log))


def rule_of(slurm_job: dict[str, str]) -> str:
    """The rule (or group) a Slurm job ran: the plugin writes `rule_<name>[_wildcards_...]` as comment."""
    return slurm_job["Comment"].removeprefix("rule_").split("_wildcards_")[0]


def asked_for_gpu(slurm_job: dict[str, str]) -> bool:
    return "gpu" in slurm_job.get("TresPerJob", "") + slurm_job.get("TresPerNode", "")


# ---- the profile itself, on a throwaway workflow -----------------------------------------------
THROWAWAY_SNAKEFILE = """
rule all:
    input: "cpu.txt", "gpu.txt"

rule on_cpu:
    output: "cpu.txt"
    shell: "echo job=$SLURM_JOB_ID gpus=${{CUDA_VISIBLE_DEVICES:-none}} > {output}"

rule on_gpu:
    output: "gpu.txt"
    resources: gpu=1
    shell: "echo job=$SLURM_JOB_ID gpus=${{CUDA_VISIBLE_DEVICES:-none}} > {output}"
"""


def test_profile_submits_jobs_to_slurm_and_gpu_resource_becomes_gpus(slurm_cluster, tmp_path):
    snakefile = tmp_path / "Snakefile"
    snakefile.write_text(textwrap.dedent(THROWAWAY_SNAKEFILE))
    run = slurm_cluster.snakemake(tmp_path, "-s", str(snakefile), "--workflow-profile", "none")

    jobs = submitted_jobs(run.stderr)
    assert len(jobs) == 2, run.stderr
    records = {rule_of(slurm_cluster.job(job_id)): slurm_cluster.job(job_id) for job_id in jobs.values()}
    assert set(records) == {"on_cpu", "on_gpu"}
    assert all(record["JobState"] == "COMPLETED" for record in records.values())
    assert asked_for_gpu(records["on_gpu"]) and not asked_for_gpu(records["on_cpu"])
    # Each output was written inside its Slurm job; only the GPU job was handed a GPU.
    gpu_line = (tmp_path / "gpu.txt").read_text().split()
    cpu_line = (tmp_path / "cpu.txt").read_text().split()
    assert gpu_line[0] == f"job={records['on_gpu']['JobId']}" and gpu_line[1] != "gpus=none"
    assert cpu_line == [f"job={records['on_cpu']['JobId']}", "gpus=none"]


# ---- the tiny config end to end, through Slurm -------------------------------------------------
TRAIN_RULES = {"train_blstmatt", "train_csa"}


def slurm_config(tmp_path: Path, blstmatt: dict | None = None, **train) -> Path:
    """tests/data/tiny.yaml with training jobs asking Slurm for one GPU (plus `train` overrides).

    train.gpus and train.mem_mb only shape the Slurm request, so outputs must equal a local run of
    tiny.yaml. The modest mem_mb keeps the test node (this machine, as slurmd -C reports it) enough.
    """
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["train"].update({"gpus": 1, "mem_mb": 2000, **train})
    config["blstmatt"].update(blstmatt or {})
    path = tmp_path / "tiny_slurm.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@dataclass
class SlurmRun:
    workdir: Path
    configfile: Path
    log: str
    jobs: dict[str, dict[str, str]]  # Slurm job id -> `scontrol show job` record


@pytest.fixture(scope="module")
def slurm_tiny_run(slurm_cluster, tmp_path_factory) -> SlurmRun:
    workdir = tmp_path_factory.mktemp("slurm_tiny_run")
    configfile = slurm_config(workdir)
    run = slurm_cluster.snakemake(workdir, "--configfile", str(configfile), timeout=900)
    jobs = {job_id: slurm_cluster.job(job_id) for job_id in submitted_jobs(run.stderr).values()}
    return SlurmRun(workdir, configfile, run.stderr, jobs)


def comparable_outputs(results: Path) -> dict[str, object]:
    """Every metrics.json below results/train, without its wall-clock `seconds`."""
    outputs = {}
    for path in sorted(results.glob("train/**/metrics.json")):
        metrics = json.loads(path.read_text())
        metrics.pop("seconds")
        outputs[str(path.relative_to(results))] = metrics
    return outputs


def test_tiny_config_runs_end_to_end_through_slurm(slurm_tiny_run, slurm_cluster):
    records = slurm_tiny_run.jobs
    assert records, "no job was submitted to Slurm"
    assert all(record["JobState"] == "COMPLETED" for record in records.values()), records
    assert all(record["Partition"] == "debug" for record in records.values())
    # Every job but the target rule went through Slurm: none ran on the submitting host.
    assert "localrule" not in slurm_tiny_run.log.replace("localrule all:", "")
    assert (slurm_tiny_run.workdir / "results" / "report.html").is_file()

    by_rule: dict[str, list[dict[str, str]]] = {}
    for record in records.values():
        by_rule.setdefault(rule_of(record), []).append(record)
    assert TRAIN_RULES <= set(by_rule), sorted(by_rule)
    # Training jobs asked Slurm for a GPU; feature, alignment and analysis jobs did not.
    for rule, rule_records in by_rule.items():
        assert all(asked_for_gpu(record) == (rule in TRAIN_RULES) for record in rule_records), rule
    # The workflow profile's groups batch the short jobs: far fewer Slurm jobs than rule jobs.
    planned = int(re.search(r"^total\s+(\d+)$", slurm_tiny_run.log, re.MULTILINE).group(1))
    assert len(records) < planned - 1


def test_slurm_outputs_equal_a_local_run(slurm_tiny_run, tiny_run):
    through_slurm = comparable_outputs(slurm_tiny_run.workdir / "results")
    local = comparable_outputs(tiny_run / "results")
    assert through_slurm and through_slurm.keys() == local.keys()
    assert through_slurm == local


def test_cancelled_training_job_resumes_from_its_checkpoint(slurm_tiny_run, slurm_cluster):
    """scancel a training job after its first epoch; the next `snakemake --profile slurm` resumes it."""
    workdir = slurm_tiny_run.workdir
    epochs = 6
    # A wider BLSTM makes an epoch take seconds, so the cancel lands mid-run even on an idle
    # machine (the tiny model can train all its epochs before squeue + scancel come round).
    configfile = slurm_config(workdir, blstmatt={"hidden_size": 256},
                              max_epochs=epochs, early_stopping_patience=epochs)
    run_dir = workdir / "results" / "train" / "blstmatt" / "Session5" / "seed1"
    target = str(run_dir.relative_to(workdir) / "metrics.json")
    # The target goes first: --configfile takes every following word as a config file.
    cmd = [*SNAKEMAKE, *PROFILES, "-d", str(workdir), target, "--configfile", str(configfile)]

    # First run: forced (the tiny run already trained this model) and without retries, so the
    # cancelled job ends the run the way a user's interrupted session would. The tiny run's
    # finished checkpoint goes first, so the wait below sees this run's own first checkpoint.
    (run_dir / "checkpoint.pt").unlink(missing_ok=True)
    first = subprocess.Popen([*cmd, "--forcerun", "train_blstmatt", "--retries", "0"], cwd=REPO,
                             env=slurm_cluster.env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not (run_dir / "checkpoint.pt").exists():
            if first.poll() is not None or time.monotonic() > deadline:
                first.kill()
                raise AssertionError(f"no checkpoint was written:\n{first.communicate()[1][-6000:]}")
            time.sleep(0.5)
        job_ids = slurm_cluster.command("squeue", "-h", "-t", "RUNNING", "-o", "%i").split()
        assert len(job_ids) == 1, job_ids
        slurm_cluster.command("scancel", job_ids[0])
        _, stderr = first.communicate(timeout=240)
    finally:
        if first.poll() is None:
            first.send_signal(signal.SIGINT)
            first.wait(timeout=60)
    assert first.returncode != 0, "snakemake did not notice the cancelled job"
    assert slurm_cluster.job(job_ids[0])["JobState"] == "CANCELLED"
    assert not (run_dir / "metrics.json").exists()

    second = slurm_cluster.snakemake(workdir, target, "--configfile", str(configfile))
    train_log = (workdir / "results" / "logs" / "train_blstmatt" / "Session5" / "seed1.log").read_text()
    resumed = re.search(r"resuming from \S+ after epoch (\d+)", train_log)
    assert resumed, train_log[-3000:]
    assert 1 <= int(resumed.group(1)) < epochs
    assert submitted_jobs(second.stderr), "the resumed job did not go through Slurm"
    history = pl.read_parquet(run_dir / "history.parquet")
    assert history["epoch"].to_list() == list(range(1, epochs + 1))
    assert torch.load(run_dir / "checkpoint.pt", weights_only=False)["state"]["stop_reason"] == "max_epochs"
