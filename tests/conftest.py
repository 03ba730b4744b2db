import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# One thread: these ops are small, and OpenMP threads that spin while the other core is busy
# (a background training run, say) can stall nn.GRU's backward for minutes.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def d4rl_file(tmp_path_factory):
    """A small hopper dataset in D4RL's hdf5 layout, from random actions in the real simulator."""
    from envs import make_env

    env = make_env("hopper")
    rng = np.random.default_rng(0)
    columns = {k: [] for k in ("observations", "actions", "rewards", "terminals", "timeouts")}
    obs, _ = env.reset(seed=0)
    for t in range(3000):
        action = rng.uniform(-1, 1, 3).astype(np.float32)
        next_obs, reward, terminated, _, _ = env.step(action)
        timeout = (t + 1) % 50 == 0 and not terminated  # short episodes keep the test fast
        for key, value in zip(columns, (obs, action, reward, terminated, timeout)):
            columns[key].append(value)
        obs = env.reset()[0] if terminated or timeout else next_obs
    path = tmp_path_factory.mktemp("d4rl") / "hopper_random-v2.hdf5"
    with h5py.File(path, "w") as f:
        for key, values in columns.items():
            f[key] = np.array(values)
    return path
