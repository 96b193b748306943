"""`snakemake align` end to end on the demo corpus: acceptance numbers and the rerun scope.

Integration tests, marked slow: one `snakemake align` run of the default demo config (about 60 s
on 2 cores) shared by all tests, plus dry runs (about 10 s).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import polars as pl
import pytest
from conftest import REPO, run_snakemake

from emocue import align

pytestmark = pytest.mark.slow
SESSIONS = [f"Session{n}" for n in range(1, 6)]
CONFIG = REPO / "config.yaml"  # the default demo configuration


def planned_jobs(dry_run_output: str) -> set[tuple[str, str]]:
    """(rule, session) of every job a dry run plans (also inside group jobs, which indent them)."""
    jobs: list[list[str]] = []
    for line in dry_run_output.splitlines():
        rule = re.match(r"\s*(?:local)?rule (\w+):", line)
        if rule:
            jobs.append([rule.group(1), ""])
        session = re.match(r"\s*wildcards: .*?session=(\w+)", line)
        if session and jobs:
            jobs[-1][1] = session.group(1)
    return {tuple(job) for job in jobs}


@pytest.fixture(scope="module")
def demo_aligned(tmp_path_factory) -> Path:
    """The default config's demo corpus (5 sessions) aligned with the `textgrid` backend."""
    workdir = tmp_path_factory.mktemp("align_demo")
    run_snakemake(workdir, "--cores", "2", "align", configfile=CONFIG)
    return workdir


def test_demo_alignment_acceptance(demo_aligned):
    qa = pl.concat([pl.read_parquet(demo_aligned / f"results/align/{s}.qa.parquet") for s in SESSIONS])
    manifests = pl.concat([pl.read_parquet(demo_aligned / f"results/corpus/{s}.parquet") for s in SESSIONS])
    assert sorted(qa["utt_id"]) == sorted(manifests["utt_id"])  # every utterance accounted for
    assert qa["aligned"].mean() >= 0.99
    summary = json.loads((demo_aligned / "results/align/Session1.summary.json").read_text())
    assert summary["n_utterances"] == qa.filter(pl.col("utt_id").is_in(
        pl.read_parquet(demo_aligned / "results/corpus/Session1.parquet")["utt_id"].implode()
    )).height


@pytest.mark.parametrize("session", SESSIONS)
def test_demo_phones_tile_each_utterance(demo_aligned, session):
    intervals = pl.read_parquet(demo_aligned / f"results/align/{session}.intervals.parquet")
    manifest = pl.read_parquet(demo_aligned / f"results/corpus/{session}.parquet")
    duration = dict(manifest.select("utt_id", "duration_s").iter_rows())
    phones = intervals.filter(tier="phone").sort("utt_id", "index")
    assert phones.height > 0
    for utt_id, utt in phones.group_by("utt_id"):
        starts, ends = utt["start_s"].to_list(), utt["end_s"].to_list()
        assert starts[0] == 0.0, utt_id
        assert all(abs(a - b) < 1e-9 for a, b in zip(ends[:-1], starts[1:])), f"{utt_id}: gap or overlap"
        assert all(e > s for s, e in zip(starts, ends)), utt_id
        assert abs(ends[-1] - duration[utt_id[0]]) < 0.02, utt_id  # the alignment covers the audio
        # frames tile too: each frame to exactly one phone
        frames = utt["start_frame"].to_list(), utt["end_frame"].to_list()
        assert frames[0][0] == 0 and frames[0][1:] == frames[1][:-1]
    classes = set(phones["phone_class"])
    assert {"vowel", "consonant"} <= classes and "other" not in classes


def test_changing_one_session_reruns_only_its_alignment(demo_aligned, tmp_path, copy_tree):
    workdir = copy_tree(demo_aligned, tmp_path / "work")  # keeps mtimes and Snakemake's metadata

    def dry_run():
        return planned_jobs(run_snakemake(workdir, "-n", "align", configfile=CONFIG).stdout) - {("align", "")}

    assert dry_run() == set()

    # a changed transcript in Session2's manifest: only Session2's alignment is redone.
    # (Content must change: Snakemake skips inputs that are only newer but have the same checksum.)
    manifest_path = workdir / "results/corpus/Session2.parquet"
    manifest = pl.read_parquet(manifest_path)
    manifest.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.col("transcript") + " again").otherwise(pl.col("transcript"))
    ).write_parquet(manifest_path)
    assert dry_run() == {("align_session", "Session2")}

    # Session4 regenerated (the demo corpus's per-session summary is the corpus rule's input):
    # its manifest and alignment are redone, nothing else
    summary_path = workdir / "results/demo/Session4.json"
    summary = json.loads(summary_path.read_text())
    summary_path.write_text(json.dumps({**summary, "regenerated": True}))
    assert dry_run() == {("align_session", "Session2"), ("corpus_session", "Session4"), ("align_session", "Session4")}


def test_mfa_train_mode_through_snakemake(demo_aligned, tmp_path, copy_tree, monkeypatch):
    """backend mfa, mode train, with the stand-in `mfa` first on PATH (tests/bin/mfa)."""
    import yaml

    workdir = copy_tree(demo_aligned, tmp_path / "work")
    config = yaml.safe_load(CONFIG.read_text())
    config["align"] = {"backend": "mfa", "mfa": {"mode": "train"}}
    configfile = tmp_path / "mfa.yaml"
    configfile.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("PATH", f"{Path(__file__).parent / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("MFA_STANDIN_RECORD", str(tmp_path / "calls.jsonl"))
    run_snakemake(workdir, "--cores", "2", "align", configfile=configfile)

    calls = [json.loads(line)["argv"] for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert [argv[0] for argv in calls] == ["train", "align"]  # train on Sessions 1-4, align Session5
    staged = {p.parent.name for p in (workdir / "results/align/mfa_train/work/corpus").rglob("*.lab")}
    assert staged and all(not speaker.startswith("Ses05") for speaker in staged)
    for session in SESSIONS:
        qa = pl.read_parquet(workdir / f"results/align/{session}.qa.parquet")
        manifest = pl.read_parquet(workdir / f"results/corpus/{session}.parquet")
        assert qa.height == manifest.height and qa["aligned"].mean() >= 0.99
    # Issue 11.17: the dictionary covers the test session's words too (transcripts carry no labels)
    dictionary = {line.split("\t")[0] for line in
                  (workdir / "results/align/mfa_train/cmudict.dict").read_text().splitlines()}
    test_words = {word for text in pl.read_parquet(workdir / "results/corpus/Session5.parquet")["transcript"]
                  for word in align.normalise_transcript(text).split()}
    assert test_words and test_words - dictionary <= align.write_cmudict_dictionary(tmp_path / "d.dict", test_words)


# ---- a manifest corpus without alignment (issue 11.14) --------------------------------------------
@pytest.fixture
def manifest_corpus(tmp_path) -> tuple[Path, dict]:
    """A tiny manifest corpus (real tones, 5 sessions x 4 labels) and its config, no align section."""
    import yaml
    from fake_iemocap import write_tone

    workdir = tmp_path / "manifest_run"
    rows = ["utt_id\tpath\tspeaker\tsession\tlabel\ttranscript"]
    for number in range(1, 6):
        for index, label in enumerate(["neu", "hap", "ang", "sad"]):
            path = Path("audio") / f"s{number}_{index}.wav"
            write_tone(workdir / path, 0.8 + 0.1 * index, seed=10 * number + index)
            rows.append(f"s{number}_u{index}\t{path}\tspk{number}{'FM'[index % 2]}\tSession{number}\t{label}\thello")
    (workdir / "manifest.tsv").write_text("\n".join(rows) + "\n")
    config = yaml.safe_load((REPO / "tests/data/tiny.yaml").read_text())
    config.pop("demo", None)
    config.pop("align", None)
    config["corpus"].update(type="manifest", root=".", manifest="manifest.tsv")
    return workdir, config


def write_yaml(path: Path, data: dict) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_manifest_corpus_without_alignment_config_gets_a_config_error(manifest_corpus, tmp_path):
    workdir, config = manifest_corpus
    proc = run_snakemake(workdir, "-n", configfile=write_yaml(tmp_path / "c.yaml", config), check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "align.textgrid_dir" in output and "align.backend: none" in output  # names the fix
    assert "AlignmentError" not in output and "results/demo/textgrids" not in output


def test_backend_none_runs_without_alignment_or_attention(manifest_corpus, tmp_path):
    workdir, config = manifest_corpus
    config["align"] = {"backend": "none"}
    configfile = write_yaml(tmp_path / "c.yaml", config)
    planned = planned_jobs(run_snakemake(workdir, "-n", configfile=configfile).stdout)  # the default target
    rules = {rule for rule, _ in planned}
    assert {"corpus_session", "train_blstmatt", "build_report"} <= rules  # the other stages run as usual
    assert not rules & {"align_session", "mfa_train", "attention_stats", "attention_plots"}
    proc = run_snakemake(workdir, "--cores", "2", "align", "attention", configfile=configfile)
    assert "align.backend is `none`" in proc.stdout + proc.stderr  # says why they are skipped
    assert not (workdir / "results" / "align").exists()


def test_emodb_backend_through_snakemake(tmp_path):
    """corpus.type emodb with its hand labels (fake tree in the release's format): every utterance
    aligned from <corpus.root>/lablaut, the default of align.emodb_label_dir."""
    import yaml
    from fake_emodb import EMODB_4_CLASS, build_fake_emodb
    from test_align_emodb import LINES, lablaut_text

    root = build_fake_emodb(tmp_path / "download")
    names = sorted(path.stem for path in (root / "wav").glob("*.wav"))
    for name in names:  # speech ends at 0.55 s, before the shortest fake wav (0.6 s) ends
        lines = [(round(0.3 * time, 6), label) for time, label in LINES]
        (root / "lablaut" / f"{name}xx.lablaut").write_text(lablaut_text(lines), encoding="latin-1")
    config = yaml.safe_load((REPO / "tests/data/tiny.yaml").read_text())
    config.pop("demo", None)
    config["corpus"] = {"type": "emodb", "root": str(root), "sessions": ["03", "08"],
                        "label_map": EMODB_4_CLASS, "classes": ["neutral", "happy", "angry", "sad"]}
    config["split"] = {"scheme": "loso"}
    config["align"] = {"backend": "emodb"}
    workdir = tmp_path / "work"
    run_snakemake(workdir, "--cores", "2", "align", configfile=write_yaml(tmp_path / "emodb.yaml", config))
    for session in ("03", "08"):
        qa = pl.read_parquet(workdir / f"results/align/{session}.qa.parquet")
        manifest = pl.read_parquet(workdir / f"results/corpus/{session}.parquet")
        assert sorted(qa["utt_id"]) == sorted(manifest["utt_id"]) and qa["aligned"].all()
        phones = pl.read_parquet(workdir / f"results/align/{session}.intervals.parquet").filter(tier="phone")
        assert {"vowel", "consonant"} <= set(phones["phone_class"])


def planned_inputs(dry_run_output: str, rule: str = "align_session",
                   field: str = "input") -> dict[str, list[str]]:
    """session -> input (or `field`: output) files of each `rule` job in a dry run."""
    inputs, current = {}, None
    for line in dry_run_output.splitlines():
        if re.match(r"\s*(?:local)?rule \w+:", line):
            current = [] if re.match(rf"\s*(?:local)?rule {rule}:", line) else None
        elif current is not None and line.strip().startswith(f"{field}:"):
            current.extend(line.split(":", 1)[1].strip().split(", "))
        elif current is not None and "wildcards:" in line:
            inputs[re.search(r"session=(\w+)", line).group(1)] = current
    return inputs


def test_each_alignment_job_declares_only_what_its_backend_reads(manifest_corpus, tmp_path):
    """The input function in rules/common.smk (issue 12.6 moved it out of the library)."""
    workdir, config = manifest_corpus
    for session in ("Session1", "Session2"):
        (workdir / "tg" / session / "spk").mkdir(parents=True)
        (workdir / "tg" / session / "spk" / f"{session}_u1.TextGrid").write_text("")
    (workdir / "model.zip").write_bytes(b"")

    def inputs(align_section):
        planned = run_snakemake(workdir, "-n", "align", configfile=write_yaml(tmp_path / "c.yaml",
                                                                             {**config, "align": align_section}))
        return planned_inputs(planned.stdout)

    textgrid = inputs({"backend": "textgrid", "textgrid_dir": "tg"})
    assert textgrid["Session2"] == ["results/corpus/Session2.parquet", "tg/Session2/spk/Session2_u1.TextGrid"]
    mfa = inputs({"backend": "mfa", "mfa": {"acoustic_model": "model.zip"}})  # the dictionary stays a name
    assert mfa["Session2"] == ["results/corpus/Session2.parquet", "model.zip"]
    train = inputs({"backend": "mfa", "mfa": {"mode": "train"}})
    trained = "results/align/mfa_train"
    assert train["Session2"] == ["results/corpus/Session2.parquet", f"{trained}/acoustic_model.zip",
                                 f"{trained}/cmudict.dict", f"{trained}/staging.json", f"{trained}/aligned"]
    assert train["Session5"] == ["results/corpus/Session5.parquet", f"{trained}/acoustic_model.zip",
                                 f"{trained}/cmudict.dict"]  # the test session: aligned with the trained model


def test_demo_alignment_reads_only_the_textgrid_folder_demo_session_declares(tmp_path):
    """The demo's TextGrids are named only once generated: demo_session declares their folder as a
    directory() output and align_session takes it as input (no rglob of an undeclared folder)."""
    planned = run_snakemake(tmp_path / "work", "-n", "align").stdout  # tests/data/tiny.yaml: demo
    folder = "results/demo/textgrids/Session2"
    assert planned_inputs(planned)["Session2"] == ["results/corpus/Session2.parquet", folder]
    assert folder in planned_inputs(planned, "demo_session", "output")["Session2"]
