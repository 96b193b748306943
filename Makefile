# The two Quick-start commands (see README.md). Both install what they need first (idempotent).
.PHONY: demo test lint

demo:
	bash envs/setup.sh
	.venv/bin/snakemake --cores all
	@echo "Report: $(CURDIR)/results/report.html"

test:
	bash envs/setup.sh --test
	.venv/bin/python -m pytest

lint:
	.venv/bin/snakemake --lint
