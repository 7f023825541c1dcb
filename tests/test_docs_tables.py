"""Every marked table of docs/results.md is what the records in docs/runs/ give now: none left stale."""

import os
import subprocess
import sys

from conftest import ROOT


def test_every_table_of_docs_results_is_what_its_records_give():
    done = subprocess.run([sys.executable, os.path.join("experiment", "results.py"), "--check",
                           os.path.join("docs", "results.md")], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert " 0 not," in done.stdout
