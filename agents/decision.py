"""The decision agent: return-to-go, state and action tokens per timestep through a backbone.

Tokens run R_0, s_0, a_0, R_1, s_1, a_1, ...; the output at s_t predicts a_t (tanh-bounded).
How training samples segments and how the agent acts is its regime (agents/regimes.py):
window, episode or stream. The backbone is any of minrnn's, built with the options its mixer takes.
"""
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from agents.regimes import REGIMES, Actor
from minrnn import build_backbone, mixer_options, reference_initialise

INITS = ("reference", "torch")
# Changes whenever the agent's architecture or initialisation does; results of different
# versions are never pooled. 1: PyTorch's default initialisation (cells that record no version);
# 2: the reference initialisation (minrnn.reference_initialise). `init="torch"` builds version 1 again.
AGENT_VERSION = 2


@dataclass
class AgentConfig:
    backbone: str = "mingru"  # the sequence model between the token embeddings and the action head
    regime: str = "window"  # how training samples segments and how the agent acts (README: Regimes)
    context_len: int = 20  # K: timesteps per training segment (window, stream) and window acting
    d_model: int = 128  # width of the tokens and of the backbone
    n_layers: int = 3  # blocks of the backbone
    n_heads: int = 1  # attention heads, for the mixers that have heads (a divisor of d_model)
    dropout: float = 0.1  # dropout of the embeddings and the blocks' residual branches
    max_timestep: int = 1000  # size of the timestep embedding; later steps share the last row
    return_scale: float = 1000.0  # returns-to-go are divided by this
    init: str = "reference"  # initialisation: DT's and each mixer's reference code, or torch's defaults (agent version 1)


def saved_config(config: dict) -> dict:
    """A saved run's config with the fields it predates filled in as they were then, and old names
    renamed: runs saved before `init` existed used PyTorch's initialisation; `regime` was `context`."""
    config = {"init": "torch", **config}
    if "context" in config:
        config.setdefault("regime", config.pop("context"))
    return config


def agent_version(config: dict) -> int:
    """The agent version of a saved run's config."""
    return 1 if saved_config(config)["init"] == "torch" else AGENT_VERSION


class DecisionAgent(nn.Module):
    def __init__(self, cfg: AgentConfig, obs_dim: int, act_dim: int,
                 obs_mean: np.ndarray | None = None, obs_std: np.ndarray | None = None):
        super().__init__()
        if cfg.regime not in REGIMES:
            raise ValueError(f"unknown regime {cfg.regime!r}; valid regimes: {', '.join(REGIMES)}")
        if cfg.init not in INITS:
            raise ValueError(f"unknown init {cfg.init!r}; valid inits: {', '.join(INITS)}")
        self.cfg, self.obs_dim, self.act_dim = cfg, obs_dim, act_dim
        self.regime = REGIMES[cfg.regime]
        options = {"n_heads": cfg.n_heads, **self.regime.backbone_options(cfg.context_len)}
        self.backbone = build_backbone(cfg.backbone, d_model=cfg.d_model, n_layers=cfg.n_layers, dropout=cfg.dropout,
                                       **{k: v for k, v in options.items() if k in mixer_options(cfg.backbone)})
        self.embed_return = nn.Linear(1, cfg.d_model)
        self.embed_state = nn.Linear(obs_dim, cfg.d_model)
        self.embed_action = nn.Linear(act_dim, cfg.d_model)
        self.embed_timestep = nn.Embedding(cfg.max_timestep, cfg.d_model)
        self.embed_norm = nn.LayerNorm(cfg.d_model)
        self.embed_dropout = nn.Dropout(cfg.dropout)
        self.predict_action = nn.Sequential(nn.Linear(cfg.d_model, act_dim), nn.Tanh())
        self.register_buffer("obs_mean", torch.as_tensor(np.zeros(obs_dim) if obs_mean is None else obs_mean, dtype=torch.float32))
        self.register_buffer("obs_std", torch.as_tensor(np.ones(obs_dim) if obs_std is None else obs_std, dtype=torch.float32))
        if cfg.init == "reference":
            reference_initialise(self, cfg.n_layers)

    def embed(self, returns_to_go, observations, actions, timesteps):
        """(batch, T) returns-to-go and timesteps, (batch, T, dim) observations and actions -> (batch, 3T, d)."""
        time = self.embed_timestep(timesteps.clamp(max=self.cfg.max_timestep - 1))
        tokens = torch.stack([
            self.embed_return(returns_to_go.unsqueeze(-1) / self.cfg.return_scale) + time,
            self.embed_state((observations - self.obs_mean) / self.obs_std) + time,
            self.embed_action(actions) + time,
        ], dim=2)
        return self.embed_dropout(self.embed_norm(tokens.flatten(1, 2)))

    def forward(self, returns_to_go, observations, actions, timesteps, state=None):
        """Predicted actions (batch, T, act_dim) for every timestep, and the backbone state after."""
        out, state = self.backbone(self.embed(returns_to_go, observations, actions, timesteps), state)
        return self.predict_action(out[:, 1::3]), state

    def loss(self, returns_to_go, observations, actions, timesteps, mask, state=None):
        """Mean squared error of the predicted actions over the steps where mask is true, and the
        backbone state after the segment (from `state`, or a fresh one when None)."""
        predicted, state = self(returns_to_go, observations, actions, timesteps, state)
        error = F.mse_loss(predicted, actions, reduction="none").mean(-1)
        return (error * mask).sum() / mask.sum(), state

    def predict_trajectory(self, returns_to_go, observations, actions, timesteps):
        """The actions training teaches for one whole recorded trajectory (batch 1, T steps), as the regime computes them."""
        return self.regime.predict_trajectory(self, returns_to_go, observations, actions, timesteps)

    def actor(self, num_envs: int) -> Actor:
        """Acts in `num_envs` envs one step at a time, as the regime trains (agents.regimes.Actor)."""
        return self.regime.actor(self, num_envs)
