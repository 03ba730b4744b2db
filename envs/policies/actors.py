"""A SAC actor alone, as envs.train_sac saves it along a run and envs.generate rolls it out (a module of
its own: reading datasets through envs.policies needs no Stable-Baselines3)."""
from pathlib import Path

import torch
from stable_baselines3.sac.policies import SACPolicy

from suite.runutils import atomic_path


def save_actor(actor: torch.nn.Module, path: Path, step: int) -> None:
    """Save a SAC policy's actor alone (about 0.3 MB), atomically."""
    with atomic_path(path) as tmp:
        torch.save({"actor": actor.state_dict(), "step": step}, tmp)


def load_actor(path, env) -> SACPolicy:
    """A SAC policy whose actor holds the weights saved by `save_actor` (critics untrained)."""
    policy = SACPolicy(env.observation_space, env.action_space, lr_schedule=lambda _: 0.0)
    policy.actor.load_state_dict(torch.load(path, map_location="cpu", weights_only=True)["actor"])
    return policy.eval()
