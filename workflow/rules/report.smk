# The report stage: one self-contained HTML page built from every stage output that the configured
# stages produce (see emocue.report). Template and library changes rerun only this rule.
import glob
from pathlib import Path

REPORT_SOURCES = sorted(
    str(path)
    for folder in (Path(workflow.current_basedir).parent / "templates",)
    for path in folder.iterdir()
    if path.name.startswith("report")
) + [str(Path(workflow.current_basedir).parent / "emocue" / "report.py")]


def report_inputs(wildcards):
    """Every other stage's targets, plus the benchmark files that exist (run time per rule)."""
    stage_outputs = [
        target for stage, targets in STAGE_TARGETS.items() if stage != "report" for target in targets
    ]
    benchmarks_dir = os.path.dirname(benchmark_path("build_report"))  # results/benchmarks/build_report
    benchmarks = [
        path
        for path in sorted(glob.glob(f"{os.path.dirname(benchmarks_dir)}/**/*.tsv", recursive=True))
        if not path.startswith(benchmarks_dir + "/")
    ]
    return stage_outputs + benchmarks


rule build_report:
    input:
        report_inputs,
        sources=REPORT_SOURCES,
    output:
        report(
            f"{RESULTS}/report.html",
            caption="../report/report.rst",
            category="Report",
        ),
    log:
        log_path("build_report"),
    benchmark:
        benchmark_path("build_report")
    params:
        results=RESULTS,
        workflow_dir=workflow.basedir,
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/report.py"


STAGE_TARGETS["report"] = [f"{RESULTS}/report.html"]
