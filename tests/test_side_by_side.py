"""evaluate.py --side-by-side (suite/side_by_side.py): tiny runs acting from one start state, tiled in
one mp4, read back with imageio. Needs headless OpenGL (MUJOCO_GL=egl, as the README's tests say)."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("MUJOCO_GL", "egl")  # before anything imports mujoco: the unlabelled render below

REPO = Path(__file__).resolve().parent.parent
TINY = ("--d-model", "16", "--batch-size", "8", "--steps", "10", "--eval-every", "1000", "--eval-episodes", "1",
        "--num-envs", "1")
SIZE = 128  # a tile's side in pixels
BACKBONES = ("mingru", "minlstm", "attention")


def run(*args):
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.fixture(scope="module")
def runs(d4rl_file, tmp_path_factory):
    """Three 10-step runs of hopper, one per backbone: three agents that act differently."""
    root = tmp_path_factory.mktemp("side_by_side")
    for backbone in BACKBONES:
        result = run("train.py", "--dataset", str(d4rl_file), *TINY, "--backbone", backbone, "--out", str(root / backbone))
        assert result.returncode == 0, result.stderr
    return [root / backbone for backbone in BACKBONES]


def side_by_side(runs, out, *extra):
    """Run the command; the mp4's frames and each run's episode length, as the command printed them."""
    import imageio.v3 as iio

    result = run("evaluate.py", str(runs[0]), "--compare-with", *map(str, runs[1:]), "--side-by-side", str(out),
                 "--video-size", str(SIZE), "--target-returns", "3600", *extra)
    assert result.returncode == 0, result.stderr
    lengths = [int(n) for n in re.findall(r"(?:fell|done) at step (\d+)", result.stdout)]
    assert len(lengths) == len(runs), result.stdout
    return iio.imread(out), lengths


def tile(frames, index, columns):
    row, column = divmod(index, columns)
    return frames[..., row * SIZE:(row + 1) * SIZE, column * SIZE:(column + 1) * SIZE, :].astype(float)


def changed(a, b) -> float:
    """The share of pixels whose colour moved by more than 40 levels in some channel: the video's
    compression moves colours by a few levels, another picture by far more."""
    return float((np.abs(a - b).max(-1) > 40).mean())


LABEL = (slice(0, SIZE // 5), slice(0, SIZE // 2))  # the top left of a tile: the run's name and return
SCENE = (slice(SIZE // 2, SIZE), slice(None))  # the bottom half: the body and the floor, never a label


def test_three_runs_tile_2x2_from_one_start_state_labelled_and_frozen_when_ended(runs, tmp_path):
    frames, lengths = side_by_side(runs, tmp_path / "videos" / "three.mp4")
    # one frame for the start state, then one per step of the longest episode; a 2x2 grid
    assert frames.shape == (max(lengths) + 1, 2 * SIZE, 2 * SIZE, 3)
    assert tile(frames, 3, 2).max() < 20  # the fourth place, without a run: black
    first = [tile(frames[0], i, 2) for i in range(3)]
    assert max(changed(first[0][SCENE], first[i][SCENE]) for i in (1, 2)) < 0.002  # one start state
    # a labelled tile against the env rendered without labels from the same seed
    from envs import make_env

    env = make_env("hopper", render_mode="rgb_array", width=SIZE, height=SIZE, camera_name="track")
    env.reset(seed=100)
    plain = env.render().astype(float)
    env.close()
    assert changed(first[0][SCENE], plain[SCENE]) < 0.002
    assert changed(first[0][LABEL], plain[LABEL]) > 0.5
    assert changed(first[0][LABEL], first[2][LABEL]) > 0.05  # "mingru window s0" against "attention window s0"
    # the runs differ, and so do their tiles once they have acted
    for i, j in ((0, 1), (0, 2), (1, 2)):
        assert max(changed(tile(frame, i, 2)[SCENE], tile(frame, j, 2)[SCENE]) for frame in frames) > 0.02, (i, j)
    # a run whose episode ended stays on its last frame, moved from the start, to the end of the video
    for i, length in enumerate(lengths):
        held = tile(frames[length:], i, 2)
        assert max(changed(frame, held[0]) for frame in held) < 0.002
        assert changed(held[0][SCENE], first[i][SCENE]) > 0.02


def test_two_runs_tile_1x2_and_a_checkpoint_file_names_a_run(runs, tmp_path):
    frames, lengths = side_by_side([runs[0], runs[2] / "checkpoint.pt"], tmp_path / "two.mp4")
    assert frames.shape == (max(lengths) + 1, SIZE, 2 * SIZE, 3)


@pytest.fixture
def walker_run(runs, tmp_path):
    """A copy of a hopper run whose checkpoint says it was trained on walker2d."""
    copy = tmp_path / "walker"
    shutil.copytree(runs[0], copy)
    checkpoint = torch.load(copy / "checkpoint.pt", weights_only=False)
    checkpoint["config"]["env"] = "walker2d"
    torch.save(checkpoint, copy / "checkpoint.pt")
    return copy


@pytest.mark.parametrize("case, named", [
    ("another env", ("different envs", "(hopper)", "(walker2d)")),
    ("missing run", ("no checkpoint at", "missing")),
    ("two targets", ("--target-returns", "one target")),
    ("not an mp4", ("--side-by-side", ".mp4")),
    ("no --side-by-side", ("--compare-with", "--side-by-side")),
])
def test_bad_input_is_one_error_line_and_no_video(runs, walker_run, tmp_path, case, named):
    out = tmp_path / "out.mp4"
    args = {"another env": (runs[0], "--compare-with", walker_run, "--side-by-side", out),
            "missing run": (runs[0], "--compare-with", tmp_path / "missing", "--side-by-side", out),
            "two targets": (runs[0], "--compare-with", runs[1], "--side-by-side", out, "--target-returns", "1", "2"),
            "not an mp4": (runs[0], "--compare-with", runs[1], "--side-by-side", tmp_path / "out.gif"),
            "no --side-by-side": (runs[0], "--compare-with", runs[1])}[case]
    result = run("evaluate.py", *map(str, args))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for text in named:
        assert text in lines[0], lines[0]
    assert not list(tmp_path.glob("*.mp4")) and not list(tmp_path.glob("*.gif"))
