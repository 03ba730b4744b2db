"""The refactor of issue 36 changed no number: the code before it (commit BEFORE_REFACTOR, taken from
git) and the current code train a tiny fixed-seed run per backbone and regime on the same data, on
this machine, and must give the same 200 losses and the same evaluation at step 200, to the bit."""
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BEFORE_REFACTOR = "768400091312894520afeae56000656836c62de7"  # the long cells of issue 35 run this code too
RECORDER = Path(__file__).resolve().parent / "reproduction_recorder.py"


def record(checkout: Path, module: str, regime_flag: str, data: Path, out: Path) -> dict:
    subprocess.run([sys.executable, str(RECORDER), module, regime_flag, str(data), str(out)], cwd=checkout,
                   check=True, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return json.loads((out / "results.json").read_text())


def test_the_refactored_training_reproduces_the_code_before_it(d4rl_file, tmp_path):
    before = tmp_path / "before"
    before.mkdir()
    archive = tmp_path / "before.tar"
    subprocess.run(["git", "archive", "--output", str(archive), BEFORE_REFACTOR], cwd=REPO, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(before, filter="data")
    old = record(before, "train", "--context", d4rl_file, tmp_path / "runs-before")
    new = record(REPO, "suite.training", "--regime", d4rl_file, tmp_path / "runs-now")
    assert len(old) == 18 and all(len(case["losses"]) == 200 for case in old.values())
    assert [case["eval"][0][:2] for case in old.values()] == [[200, 3600.0]] * 18
    for name in old:
        assert new[name] == old[name], name
