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

A regime is one class here; the rest of the suite asks it for a sampler, for the backbone
options it needs, and whether acting carries the state (`carries_state`) or recomputes.
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
    """Draws training batches; `carry` takes the backbone state a step ended with (used by stream)."""

    def __init__(self, data: EpisodeData, batch_size: int, segment_len: int, seed: int):
        self.data, self.batch_size, self.segment_len = data, batch_size, segment_len
        self.rng = np.random.default_rng(seed)

    def carry(self, state) -> None:
        pass

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, saved: dict) -> None:
        self.rng.bit_generator.state = saved["rng"]


class WindowSampler(Sampler):
    def sample(self, device) -> dict:
        episode = self.data.draw_by_steps(self.rng, self.batch_size)
        return self.data.gather(episode, self.rng.integers(0, self.data.lengths[episode]), self.segment_len, device)


class EpisodeSampler(Sampler):
    def sample(self, device) -> dict:
        episode = self.data.draw_by_steps(self.rng, self.batch_size)
        return self.data.gather(episode, np.zeros(self.batch_size, int), self.segment_len, device, trim=True)


class StreamSampler(Sampler):
    """Rows walk episodes chunk by chunk; each batch holds the carried state, reset where a row starts."""

    def __init__(self, data: EpisodeData, batch_size: int, segment_len: int, seed: int):
        super().__init__(data, batch_size, segment_len, seed)
        self.episode = np.zeros(batch_size, int)
        self.offset = np.full(batch_size, np.iinfo(np.int64).max)  # every row starts an episode first
        self.state = None

    def sample(self, device) -> dict:
        starting = self.offset >= self.data.lengths[self.episode]
        # episodes drawn uniformly: a row spends time on an episode in proportion to its length,
        # so every step of the data is trained on alike
        self.episode[starting] = self.rng.integers(0, len(self.data.lengths), size=int(starting.sum()))
        self.offset[starting] = 0
        batch = self.data.gather(self.episode, self.offset, self.segment_len, device)
        self.offset += self.segment_len
        if self.state is not None:
            batch["state"] = Backbone.reset_state(self.state, torch.as_tensor(starting, device=device))
        return batch

    def carry(self, state) -> None:
        self.state = [tuple(t.detach() for t in layer) for layer in state]

    def state_dict(self) -> dict:
        return {**super().state_dict(), "episode": self.episode.copy(), "offset": self.offset.copy(),
                "state": self.state}

    def load_state_dict(self, saved: dict) -> None:
        super().load_state_dict(saved)
        self.episode, self.offset, self.state = saved["episode"].copy(), saved["offset"].copy(), saved["state"]


class Regime:
    name: str
    sampler_class: type
    carries_state: bool  # acting steps from the carried state from t = 0; else it re-runs the last K steps

    def segment_len(self, context_len: int, max_episode_len: int, data: EpisodeData) -> int:
        return context_len

    def backbone_options(self, backbone: str, context_len: int) -> dict:
        return {}

    def sampler(self, episodes, batch_size: int, context_len: int, max_episode_len: int, seed: int) -> Sampler:
        data = EpisodeData(episodes)
        return self.sampler_class(data, batch_size, self.segment_len(context_len, max_episode_len, data), seed)


class Window(Regime):
    name, sampler_class, carries_state = "window", WindowSampler, False


class Episode(Regime):
    name, sampler_class, carries_state = "episode", EpisodeSampler, True

    def segment_len(self, context_len, max_episode_len, data):
        return min(max_episode_len, int(data.lengths.max()))


class Stream(Regime):
    name, sampler_class, carries_state = "stream", StreamSampler, True

    def backbone_options(self, backbone, context_len):
        return {"window": 3 * context_len} if backbone == "attention" else {}


REGIMES = {regime.name: regime for regime in (Window(), Episode(), Stream())}
