"""Agent regimes: how training samples its segments, and how the trained agent acts.

Tokens run R_0, s_0, a_0, R_1, ...; a regime decides which stretch of an episode one training
row sees and from which backbone state, and the acting path that computes the same function:

  window   K-step segments from anywhere in an episode, each from a fresh state, as Decision
           Transformer trains. Acting re-runs the last K steps every step (a sliding KV cache
           equals a banded mask, but with more than one layer not K-step segments: layer l's
           cached keys carry l windows of history, so every backbone recomputes).
  episode  whole episodes from t = 0 (up to max_episode_len steps) from a zero state. Acting
           carries the backbone state from t = 0: each step costs the same however long the
           episode. A training step costs a whole episode per row.
  stream   truncated backpropagation through time. Each of the batch's rows walks whole episodes
           in consecutive K-step chunks from t = 0; a chunk starts from the state its row ended
           the previous chunk with, detached (no gradient across chunks). A row whose episode ends
           starts a newly drawn episode at its next chunk, from a zero state; the rest of the
           chunk in which an episode ends is padding (masked out of the loss: about K / 2 steps
           per episode). A step costs as many tokens as a window step; acting is the episode
           regime's. Attention gets a window of 3K tokens (K steps) and carries its last 3K - 1
           keys and values per layer as the state (the Transformer-XL recurrence, with a banded
           mask): training chunk by chunk and acting with the sliding cache compute the same.

A regime is one class here, owning how it samples (`sampler`), the backbone options it needs
(`backbone_options`), how the agent acts (`actor`: a `RecomputingActor` or a `CarriedStateActor`) and
the actions training teaches for a whole trajectory (`predict_trajectory`). The agent is used through
its own methods (embed, forward, backbone, predict_action), so this module does not import it.
"""
import numpy as np
import torch

from minrnn import Backbone


class EpisodeData:
    """A dataset's episodes as flat arrays, and rows of segments gathered from them."""

    def __init__(self, episodes):
        self.lengths = np.array([len(ep.rewards) for ep in episodes])
        self.starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]])
        self.observations = np.concatenate([ep.observations for ep in episodes])
        self.actions = np.concatenate([ep.actions for ep in episodes])
        self.returns_to_go = np.concatenate([np.cumsum(ep.rewards[::-1], dtype=np.float64)[::-1] for ep in episodes])
        self.timesteps = np.concatenate([np.arange(n) for n in self.lengths])
        self.step_weights = self.lengths / self.lengths.sum()  # an episode's share of the steps

    def draw_by_steps(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Episodes drawn in proportion to their lengths: every step of the data alike."""
        return rng.choice(len(self.lengths), size=size, p=self.step_weights)

    def gather(self, episode: np.ndarray, offset: np.ndarray, length: int, device, trim: bool = False) -> dict:
        """Rows of `length` steps of `episode` from `offset`, right-padded with a mask (causal
        models ignore the pad). With trim, steps that are padding in every row are dropped."""
        steps = np.arange(length)
        mask = steps[None] < (self.lengths[episode] - offset)[:, None]
        if trim:
            keep = mask.any(0)
            steps, mask = steps[keep], mask[:, keep]
        rows = np.where(mask, self.starts[episode][:, None] + offset[:, None] + steps[None], 0)

        def take(values, dtype):
            out = values[rows]
            out[~mask] = 0
            return torch.as_tensor(out, dtype=dtype, device=device)

        return {"returns_to_go": take(self.returns_to_go, torch.float32),
                "observations": take(self.observations, torch.float32),
                "actions": take(self.actions, torch.float32),
                "timesteps": take(self.timesteps, torch.long),
                "mask": torch.as_tensor(mask, dtype=torch.float32, device=device)}


class Sampler:
    """Draws training batches: `sample(device, state)` with the state the previous batch ended with
    (`carried`); only the stream regime's rows continue from it."""

    def __init__(self, data: EpisodeData, batch_size: int, segment_len: int, seed: int):
        self.data, self.batch_size, self.segment_len = data, batch_size, segment_len
        self.rng = np.random.default_rng(seed)

    def carried(self, state):
        """What of a batch's final backbone state the next batch starts from: nothing, but in stream."""
        return None

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, saved: dict) -> None:
        self.rng.bit_generator.state = saved["rng"]


class WindowSampler(Sampler):
    def sample(self, device, state=None) -> dict:
        episode = self.data.draw_by_steps(self.rng, self.batch_size)
        return self.data.gather(episode, self.rng.integers(0, self.data.lengths[episode]), self.segment_len, device)


class EpisodeSampler(Sampler):
    def sample(self, device, state=None) -> dict:
        episode = self.data.draw_by_steps(self.rng, self.batch_size)
        return self.data.gather(episode, np.zeros(self.batch_size, int), self.segment_len, device, trim=True)


class StreamSampler(Sampler):
    """Rows walk episodes chunk by chunk; each batch holds the carried state, reset where a row starts."""

    def __init__(self, data: EpisodeData, batch_size: int, segment_len: int, seed: int):
        super().__init__(data, batch_size, segment_len, seed)
        self.episode = np.zeros(batch_size, int)
        self.offset = np.full(batch_size, np.iinfo(np.int64).max)  # every row starts an episode first

    def sample(self, device, state=None) -> dict:
        starting = self.offset >= self.data.lengths[self.episode]
        # episodes drawn uniformly: a row spends time on an episode in proportion to its length,
        # so every step of the data is trained on alike
        self.episode[starting] = self.rng.integers(0, len(self.data.lengths), size=int(starting.sum()))
        self.offset[starting] = 0
        batch = self.data.gather(self.episode, self.offset, self.segment_len, device)
        self.offset += self.segment_len
        if state is not None:
            batch["state"] = Backbone.reset_state(state, torch.as_tensor(starting, device=device))
        return batch

    def carried(self, state):
        """The state, detached: no gradient flows across chunks."""
        return [tuple(t.detach() for t in layer) for layer in state]

    def state_dict(self) -> dict:
        return {**super().state_dict(), "episode": self.episode.copy(), "offset": self.offset.copy()}

    def load_state_dict(self, saved: dict) -> None:
        super().load_state_dict(saved)
        self.episode, self.offset = saved["episode"].copy(), saved["offset"].copy()


class Actor:
    """Acts in `num_envs` environments one timestep at a time, as training taught.

    Call `act` once per environment step with each env's return-to-go, observation and
    timestep; a row whose timestep is 0 starts a new episode. `taken_actions` are the actions
    executed after the previous call when they differ from what it returned (a recorded
    trajectory replayed, say).
    """

    def __init__(self, agent, num_envs: int):
        self.agent, self.num_envs = agent.eval(), num_envs
        param = next(agent.parameters())
        self.device, self.dtype = param.device, param.dtype
        self.previous = None  # (action, timestep) of the last call, fed as the next a-token

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
        action = self.step(rtg, obs, t)
        self.previous = (action, t)
        return action.cpu().numpy()


class CarriedStateActor(Actor):
    """Steps the backbone from the state it carries since t = 0 (episode and stream regimes)."""

    def __init__(self, agent, num_envs: int):
        super().__init__(agent, num_envs)
        self.state = agent.backbone.init_state(num_envs)

    def step(self, rtg, obs, t):
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


class RecomputingActor(Actor):
    """Reruns the last K steps from a zero state at every step (window regime)."""

    def __init__(self, agent, num_envs: int):
        super().__init__(agent, num_envs)
        k, floats = agent.cfg.context_len, {"device": self.device, "dtype": self.dtype}
        self.history = {"rtg": torch.zeros(num_envs, k, **floats),
                        "obs": torch.zeros(num_envs, k, agent.obs_dim, **floats),
                        "act": torch.zeros(num_envs, k, agent.act_dim, **floats),
                        "t": torch.zeros(num_envs, k, dtype=torch.long, device=self.device)}
        self.filled = torch.zeros(num_envs, dtype=torch.long, device=self.device)
        self.rows = torch.arange(num_envs, device=self.device)

    def step(self, rtg, obs, t):
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


class Regime:
    name: str
    sampler_class: type
    actor_class: type  # CarriedStateActor: acting steps from the state carried since t = 0; else it reruns K steps

    def segment_len(self, context_len: int, max_episode_len: int, data: EpisodeData) -> int:
        return context_len

    def backbone_options(self, context_len: int) -> dict:
        """Options for every mixer that takes them (minrnn.mixer_options)."""
        return {}

    def sampler(self, episodes, batch_size: int, context_len: int, max_episode_len: int, seed: int) -> Sampler:
        data = EpisodeData(episodes)
        return self.sampler_class(data, batch_size, self.segment_len(context_len, max_episode_len, data), seed)

    def actor(self, agent, num_envs: int) -> Actor:
        return self.actor_class(agent, num_envs)

    @torch.no_grad()
    def predict_trajectory(self, agent, returns_to_go, observations, actions, timesteps):
        """The actions training teaches for one whole recorded trajectory (batch 1, T steps): one pass
        from t = 0, which equals the stream regime's chunks with the state carried between them."""
        return agent(returns_to_go, observations, actions, timesteps)[0]


class Window(Regime):
    name, sampler_class, actor_class = "window", WindowSampler, RecomputingActor

    @torch.no_grad()
    def predict_trajectory(self, agent, returns_to_go, observations, actions, timesteps):
        """a_t from the segment t-K+1..t alone."""
        k, length = agent.cfg.context_len, timesteps.shape[1]
        first, _ = agent(returns_to_go[:, :k], observations[:, :k], actions[:, :k], timesteps[:, :k])
        if length <= k:
            return first
        windows = [t.unfold(1, k, 1).movedim(-1, 2)[0] if t.dim() == 3 else t.unfold(1, k, 1)[0]
                   for t in (returns_to_go, observations, actions, timesteps)]
        later, _ = agent(*windows)  # (T - K + 1, K, act_dim): each window's last step is its prediction
        return torch.cat([first, later[1:, -1].unsqueeze(0)], dim=1)


class Episode(Regime):
    name, sampler_class, actor_class = "episode", EpisodeSampler, CarriedStateActor

    def segment_len(self, context_len, max_episode_len, data):
        return min(max_episode_len, int(data.lengths.max()))


class Stream(Regime):
    name, sampler_class, actor_class = "stream", StreamSampler, CarriedStateActor

    def backbone_options(self, context_len):
        """A mixer whose memory grows with the sequence (attention) keeps 3K tokens (K steps), so that
        training chunk by chunk and acting with a sliding cache compute the same."""
        return {"window": 3 * context_len}


REGIMES = {regime.name: regime for regime in (Window(), Episode(), Stream())}
