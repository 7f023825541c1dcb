"""Every marked table of docs/results.md and README.md is what the records in docs/runs/ give now: none left stale."""

import os
import subprocess
import sys

import pytest

from conftest import ROOT


@pytest.mark.parametrize("document", [os.path.join("docs", "results.md"), "README.md"])
def test_every_marked_table_is_what_its_records_give(document):
    done = subprocess.run([sys.executable, os.path.join("experiment", "results.py"), "--check", document],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert " 0 not," in done.stdout
    assert " 0 tables" not in done.stdout  # the document has its marked tables
