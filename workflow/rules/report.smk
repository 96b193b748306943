# The report stage: one self-contained HTML page built from every stage output that the configured
# stages produce (see emocue.report).
from pathlib import Path

# Template files and the library module are inputs, so editing them reruns (only) build_report.
WORKFLOW_DIR = Path(workflow.current_basedir).parent
REPORT_SOURCES = [
    *sorted(str(path) for path in (WORKFLOW_DIR / "templates").glob("report*")),
    str(WORKFLOW_DIR / "emocue" / "report.py"),
]


rule build_report:
    input:
        # Every other stage's targets (looked up when the DAG is built, so include order does not
        # matter). Benchmark files are read but not declared: they exist only after their jobs
        # ran, so declaring them would change this job's input set between runs.
        lambda wildcards: [t for stage, ts in STAGE_TARGETS.items() if stage != "report" for t in ts],
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
        results=lambda wildcards, output: os.path.dirname(output[0]),
        # the checkout holding emocue/report.py: its git commit goes into the provenance section
        workflow_dir=lambda wildcards, input: str(Path(input.sources[-1]).parents[2]),
    conda:
        "../../envs/stats.yaml"
    script:
        "../scripts/report.py"


STAGE_TARGETS["report"] = [f"{RESULTS}/report.html"]
