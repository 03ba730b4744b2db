"""The decision agent: return-to-go, state and action tokens per timestep through a backbone.

Tokens run R_0, s_0, a_0, R_1, s_1, a_1, ...; the output at s_t predicts a_t (tanh-bounded).
How training samples segments and how the agent acts is its regime (agents/regimes.py):
window, episode or stream.
"""
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from agents.regimes import REGIMES
from minrnn import build_backbone
from minrnn.mamba import Mamba

CONTEXTS = tuple(REGIMES)
INITS = ("reference", "torch")
# Changes whenever the agent's architecture or initialisation does; results of different
# versions are never pooled. 1: PyTorch's default initialisation (cells that record no version);
# 2: the reference initialisation (`initialise`). `init="torch"` builds version 1 again.
AGENT_VERSION = 2


@dataclass
class AgentConfig:
    backbone: str = "mingru"
    context: str = "window"
    context_len: int = 20  # K: timesteps per training segment (window, stream) and window acting
    d_model: int = 128
    n_layers: int = 3
    n_heads: int = 1  # attention only
    dropout: float = 0.1
    max_timestep: int = 1000  # size of the timestep embedding; later steps share the last row
    return_scale: float = 1000.0  # returns-to-go are divided by this
    init: str = "reference"  # "reference" (see `initialise`) or "torch" (PyTorch's defaults: agent version 1)


def saved_config(config: dict) -> dict:
    """A saved run's config with the fields it predates filled in as they were then: runs saved
    before `init` existed used PyTorch's initialisation."""
    return {"init": "torch", **config}


def agent_version(config: dict) -> int:
    """The agent version of a saved run's config."""
    return 1 if saved_config(config)["init"] == "torch" else AGENT_VERSION


def initialise(agent: nn.Module, n_layers: int) -> None:
    """The reference initialisation, chosen per module after the code each comes from.

    Everything but Mamba's mixers: as Decision Transformer (GPT-2; CORL's dt.py keeps it):
    Linear and Embedding weights N(0, 0.02), biases 0, LayerNorm weight 1 and bias 0. That covers
    the token embeddings, the action head, attention, the blocks' MLPs and the minGRU/minLSTM
    gates, whose paper and reference code (lucidrains' minGRU) leave PyTorch's defaults; N(0, 0.02)
    there was measured (docs/agents.md). PyTorch's own default for nn.Embedding is N(0, 1): the
    timestep embedding, added to every token, would dwarf the token embeddings.
    Mamba's mixers: as mamba_ssm (`_init_weights` with `rescale_prenorm_residual`): A_log = log(1..N)
    (S4D-real), D = 1, the dt bias the inverse softplus of a log-uniform step size in [dt_min,
    dt_max] (set in Mamba.__init__), Linear weights PyTorch's default, and out_proj's divided by
    sqrt(2 n_layers) (two residual branches per block: mixer and MLP)."""
    in_mamba = {id(m) for mixer in agent.modules() if isinstance(mixer, Mamba) for m in mixer.modules()}
    for module in agent.modules():
        if id(module) in in_mamba:
            if isinstance(module, Mamba):
                with torch.no_grad():
                    module.out_proj.weight.div_((2 * n_layers) ** 0.5)
        elif isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


class DecisionAgent(nn.Module):
    def __init__(self, cfg: AgentConfig, obs_dim: int, act_dim: int,
                 obs_mean: np.ndarray | None = None, obs_std: np.ndarray | None = None):
        super().__init__()
        if cfg.context not in CONTEXTS:
            raise ValueError(f"unknown context {cfg.context!r}; valid contexts: {', '.join(CONTEXTS)}")
        if cfg.init not in INITS:
            raise ValueError(f"unknown init {cfg.init!r}; valid inits: {', '.join(INITS)}")
        self.cfg, self.obs_dim, self.act_dim = cfg, obs_dim, act_dim
        self.regime = REGIMES[cfg.context]
        options = {"n_heads": cfg.n_heads} if cfg.backbone == "attention" else {}
        options |= self.regime.backbone_options(cfg.backbone, cfg.context_len)
        self.backbone = build_backbone(cfg.backbone, d_model=cfg.d_model, n_layers=cfg.n_layers,
                                       dropout=cfg.dropout, **options)
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
            initialise(self, cfg.n_layers)

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

    @torch.no_grad()
    def predict_trajectory(self, returns_to_go, observations, actions, timesteps):
        """The actions training teaches for one whole recorded trajectory (batch 1, T steps).

        A regime that carries the state: one pass from t = 0, which equals the stream regime's
        chunks with the state carried between them. Window regime: a_t from the segment t-K+1..t alone.
        """
        if self.regime.carries_state:
            return self(returns_to_go, observations, actions, timesteps)[0]
        k, length = self.cfg.context_len, timesteps.shape[1]
        first, _ = self(returns_to_go[:, :k], observations[:, :k], actions[:, :k], timesteps[:, :k])
        if length <= k:
            return first
        windows = [t.unfold(1, k, 1).movedim(-1, 2)[0] if t.dim() == 3 else t.unfold(1, k, 1)[0]
                   for t in (returns_to_go, observations, actions, timesteps)]
        later, _ = self(*windows)  # (T - K + 1, K, act_dim): each window's last step is its prediction
        return torch.cat([first, later[1:, -1].unsqueeze(0)], dim=1)


class Actor:
    """Acts in `num_envs` environments one timestep at a time, as training taught.

    Call `act` once per environment step with each env's return-to-go, observation and
    timestep; a row whose timestep is 0 starts a new episode. `taken_actions` are the actions
    executed after the previous call when they differ from what it returned (a recorded
    trajectory replayed, say).
    """

    def __init__(self, agent: DecisionAgent, num_envs: int):
        self.agent, self.num_envs = agent.eval(), num_envs
        param = next(agent.parameters())
        self.device, self.dtype = param.device, param.dtype
        self.previous = None  # (action, timestep) of the last call, fed as the next a-token
        if not agent.regime.carries_state:
            k, floats = agent.cfg.context_len, {"device": self.device, "dtype": self.dtype}
            self.history = {"rtg": torch.zeros(num_envs, k, **floats),
                            "obs": torch.zeros(num_envs, k, agent.obs_dim, **floats),
                            "act": torch.zeros(num_envs, k, agent.act_dim, **floats),
                            "t": torch.zeros(num_envs, k, dtype=torch.long, device=self.device)}
            self.filled = torch.zeros(num_envs, dtype=torch.long, device=self.device)
            self.rows = torch.arange(num_envs, device=self.device)
        else:
            self.state = agent.backbone.init_state(num_envs)

    def _tensor(self, values, dtype=None):
        """A copy, never a view: `previous` keeps this step's timesteps for the next a-token, and a
        caller may advance its array in place (rollout's `t += 1` did: a_t took t + 1's embedding)."""
        return torch.tensor(np.asarray(values), device=self.device, dtype=dtype or self.dtype)

    @torch.inference_mode()
    def act(self, returns_to_go, observations, timesteps, taken_actions=None) -> np.ndarray:
        rtg, obs = self._tensor(returns_to_go), self._tensor(observations)
        t = self._tensor(timesteps, torch.long)
        if taken_actions is not None:
            self.previous = (self._tensor(taken_actions), self.previous[1])
        action = self._act_stepping(rtg, obs, t) if self.agent.regime.carries_state else self._act_recomputing(rtg, obs, t)
        self.previous = (action, t)
        return action.cpu().numpy()

    def _act_stepping(self, rtg, obs, t):
        """Runs the backbone over the previous step's action token and this step's return and
        state tokens in one call from the carried state (a call costs about the same for 1 or 3
        tokens). Rows starting an episode drop the action token and restart from a zero state."""
        agent, backbone = self.agent, self.agent.backbone
        starting = t == 0
        if self.previous is None:
            action, previous_t = obs.new_zeros(self.num_envs, agent.act_dim), t
        else:
            action, previous_t = self.previous
        # one embed call over two timesteps (the previous one, this one), of which the tokens
        # a_{t-1}, R_t, s_t are used; the unused slots repeat this step's values
        pair = [torch.stack([x, x], dim=1) for x in (rtg, obs, action)]
        tokens = agent.embed(*pair, torch.stack([previous_t, t], dim=1))[:, 2:5]
        if self.previous is None or starting.any():
            if self.previous is not None:
                _, self.state = backbone.step(tokens[:, 0], self.state)
            self.state = backbone.reset_state(self.state, starting)
            tokens = tokens[:, 1:]
        out, self.state = backbone(tokens, self.state)
        return agent.predict_action(out[:, -1])

    def _act_recomputing(self, rtg, obs, t):
        h, k, rows = self.history, self.agent.cfg.context_len, self.rows
        if self.previous is not None:
            h["act"][rows, self.filled - 1] = self.previous[0]
        self.filled = torch.where(t == 0, 0, self.filled)
        full = self.filled == k  # slide full windows left by one step
        for v in h.values():
            v[full] = v[full].roll(-1, dims=1)
        self.filled = torch.clamp(self.filled + 1, max=k)
        last = self.filled - 1
        h["rtg"][rows, last], h["obs"][rows, last], h["t"][rows, last] = rtg, obs, t
        h["act"][rows, last] = 0.0
        predicted, _ = self.agent(h["rtg"], h["obs"], h["act"], h["t"])
        return predicted[rows, last]
