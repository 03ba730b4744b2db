"""A trained run as a policy in Stable-Baselines3's shape, the return-to-go bookkeeping inside.

    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from agents.policy import RewardInObservation
    from envs import make_env
    from suite.rundir import load_policy

    policy = load_policy("runs/hopper-medium-mingru-window-s0")  # target: the env's first (DT) target
    env = make_vec_env(lambda: make_env(policy.env), n_envs=10, seed=100, wrapper_class=RewardInObservation)
    evaluate_policy(policy, env, n_eval_episodes=10)

A decision agent is conditioned on the return still to get: the target minus the rewards received so
far in the episode. SB3's `predict(observation, state, episode_start, deterministic)` is given no
rewards, so the env shows them: `RewardInObservation` makes each observation a dict, the env's own
under "observation" and the reward of the step that led to it under "reward" (0 after a reset). In a
loop of one's own, pass that dict, batched or for one env (evaluate.py's `watch` does).
"""
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from agents.decision import DecisionAgent
from agents.regimes import Actor


class RewardInObservation(gym.Wrapper):
    """Observations become {"observation": the env's, "reward": the reward of the step that led to it}."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        # the reward as float64, so that the policy sums the rewards as a rollout receives them
        self.observation_space = gym.spaces.Dict({
            "observation": env.observation_space,
            "reward": gym.spaces.Box(-np.inf, np.inf, shape=(), dtype=np.float64)})

    def reset(self, **kwargs):
        observation, info = self.env.reset(**kwargs)
        return {"observation": observation, "reward": np.float64(0.0)}, info

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(action)
        return {"observation": observation, "reward": np.float64(reward)}, reward, terminated, truncated, info


@dataclass
class Rollout:
    """The state `DecisionPolicy.predict` hands back: one row per env, advanced in place by each call."""
    actor: Actor  # the agent's own acting state: its carried backbone state, or its window of steps
    episode_return: np.ndarray  # (rows,) float64: the rewards received so far in each row's episode
    t: np.ndarray  # (rows,) each row's timestep in its episode


class DecisionPolicy:
    """A decision agent conditioned on `target_return`, acting in `env` (a name of envs.ENVS)."""

    def __init__(self, agent: DecisionAgent, env: str, target_return: float):
        self.agent, self.env, self.target_return = agent, env, target_return

    def predict(self, observation: dict, state: Rollout | None = None, episode_start=None,
                deterministic: bool = True) -> tuple[np.ndarray, Rollout]:
        """The actions for RewardInObservation's observations (a batch, or one env's), and the state
        to pass back with the next ones.

        `state` None starts every row's episode; after that, `episode_start` marks the rows whose
        observation starts a new episode (SB3's convention: the `done` of the step that led to it).
        The agent's actions are deterministic whatever `deterministic` says.
        """
        observations = np.atleast_2d(observation["observation"])
        rewards = np.reshape(observation["reward"], -1).astype(np.float64)
        if state is None:
            rows = len(observations)
            state = Rollout(self.agent.actor(rows), np.zeros(rows), np.zeros(rows, dtype=np.int64))
            starting = np.ones(rows, dtype=bool)
        else:
            starting = np.reshape(False if episode_start is None else episode_start, -1).astype(bool)
        state.episode_return = np.where(starting, 0.0, state.episode_return + rewards)
        state.t = np.where(starting, 0, state.t + 1)
        actions = state.actor.act(self.target_return - state.episode_return, observations, state.t)
        return (actions if np.ndim(observation["observation"]) == 2 else actions[0]), state
