"""Several runs acting side by side in one mp4: the same start state, the same target return.

    MUJOCO_GL=egl python evaluate.py RUN --compare-with RUN2 RUN3 RUN4 --side-by-side videos/side_by_side.mp4

Why: the tables say which backbone scores more, not how the agents differ; one agent hops on where
another dives at step 80. Each run acts in an env of its own, reset with the same seed, so every
tile starts from the same state and what differs is the agent. The tiles make a grid (2 runs: 1x2,
3 or 4: 2x2, a missing one black); each is labelled with its run (backbone, regime, seed) and its
return so far, and a run whose episode has ended stays on its last frame, marked "fell at step N"
(the env ended it: the body fell) or "done at step N" (the time limit), until every run has ended.
"""
import math
from dataclasses import dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from agents.policy import DecisionPolicy, RewardInObservation
from envs import env_spec, make_env, normalized_score
from suite.rundir import load_agent
from suite.runutils import atomic_path

LABEL_COLOUR, RETURN_COLOUR = (255, 255, 255), (255, 220, 90)
ENDED_COLOUR = {"fell": (255, 110, 110), "done": (130, 230, 130)}


@dataclass
class Player:
    """One run acting in its own rendered env: what its tile shows at the current frame."""
    label: str  # which run: backbone, regime, seed (and what else tells the runs apart)
    policy: DecisionPolicy
    env: gym.Env
    observation: dict = field(default_factory=dict)
    frame: np.ndarray | None = None  # the env's last render; kept once the episode ends
    state: object = None  # DecisionPolicy's rollout state
    episode_return: float = 0.0
    steps: int = 0
    ended: str = ""  # "" while acting, then "fell" (terminated) or "done" (truncated: the time limit)

    def status(self) -> str:
        return f"{self.ended} at step {self.steps}" if self.ended else ""


def grid_shape(count: int) -> tuple[int, int]:
    """(rows, columns) of the tiles: as square as it gets, never a full row blank (2: 1x2, 3 and 4: 2x2)."""
    columns = math.ceil(math.sqrt(count))
    return math.ceil(count / columns), columns


def run_labels(configs: list[dict]) -> list[str]:
    """A tile's name: backbone, regime and seed, and the dataset when the runs do not share one,
    so that every tile says what it is without a legend."""
    datasets = {config["dataset"] for config in configs}
    labels = []
    for config in configs:
        label = f"{config['backbone']} {config['regime']} s{config['seed']}"
        labels.append(label if len(datasets) == 1 else f"{label} {config['dataset']}")
    return labels


def load_players(run_dirs: list[str], env: str, target_returns: list[float], size: int,
                 device) -> tuple[list[Player], str, float]:
    """The runs as players, each with a rendered env of its own, and the env and target they share
    (the one of `target_returns`, else the env's first Decision Transformer target).

    Runs trained on other envs cannot share a start state: a ValueError names each run's env.
    """
    if len(target_returns) > 1:
        raise ValueError(f"--target-returns {' '.join(map(str, target_returns))}: a side-by-side video "
                         f"shows one target; give one, or none for the env's first")
    loaded = [load_agent(run_dir, device) for run_dir in run_dirs]
    trained = {config["env"] for _, config in loaded}
    if len(trained) > 1:
        named = ", ".join(f"{run_dir} ({config['env']})" for run_dir, (_, config) in zip(run_dirs, loaded))
        raise ValueError(f"--compare-with: the runs were trained on different envs: {named}; "
                         f"a side-by-side video shows runs of one env")
    (trained_env,) = trained
    if env and env != trained_env:
        raise ValueError(f"--env {env}: the runs were trained on {trained_env!r} and cannot act in {env!r}")
    target = target_returns[0] if target_returns else env_spec(trained_env).target_returns[0]
    players = [Player(label, DecisionPolicy(agent, trained_env, target),
                      RewardInObservation(make_env(trained_env, render_mode="rgb_array", width=size, height=size,
                                                   camera_name="track")))  # the camera that follows the body
               for label, (agent, _) in zip(run_labels([config for _, config in loaded]), loaded)]
    return players, trained_env, target


def reset(players: list[Player], seed: int) -> None:
    """Every env reset with one seed: the same start state in every tile."""
    for player in players:
        player.observation, _ = player.env.reset(seed=seed)
        player.frame = player.env.render()


def step(player: Player) -> None:
    """One step of a run still acting; the render becomes its tile's frame."""
    action, player.state = player.policy.predict(player.observation, player.state)
    player.observation, reward, terminated, truncated, _ = player.env.step(action)
    player.episode_return += float(reward)
    player.steps += 1
    player.frame = player.env.render()
    if terminated or truncated:
        player.ended = "fell" if terminated else "done"


def label_font(size: int) -> ImageFont.ImageFont:
    """Pillow's own font (no font file needed) at a height readable in a tile of `size` pixels."""
    return ImageFont.load_default(size=max(11, size // 14))


def labelled(player: Player, font: ImageFont.ImageFont) -> np.ndarray:
    """The player's frame with its label, return so far and how it ended, on a dark box at the top
    left so that the text stays readable over the bright floor and sky."""
    lines = [(player.label, LABEL_COLOUR), (f"return {player.episode_return:.1f}", RETURN_COLOUR)]
    if player.ended:
        lines.append((player.status(), ENDED_COLOUR[player.ended]))
    image = Image.fromarray(player.frame).convert("RGBA")
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    pad, line_height = 3, font.size + 2
    width = max(draw.textlength(text, font=font) for text, _ in lines)
    draw.rectangle((0, 0, width + 2 * pad, len(lines) * line_height + 2 * pad), fill=(0, 0, 0, 180))
    for i, (text, colour) in enumerate(lines):
        draw.text((pad, pad + i * line_height), text, font=font, fill=colour)
    return np.asarray(Image.alpha_composite(image, overlay).convert("RGB"))


def tiled(tiles: list[np.ndarray], rows: int, columns: int) -> np.ndarray:
    """The tiles in a rows x columns grid, row by row; places without a run stay black."""
    height, width, channels = tiles[0].shape
    grid = np.zeros((rows * height, columns * width, channels), dtype=np.uint8)
    for i, tile in enumerate(tiles):
        row, column = divmod(i, columns)
        grid[row * height:(row + 1) * height, column * width:(column + 1) * width] = tile
    return grid


def write_side_by_side(run_dirs: list[str], out: str, target_returns: list[float] = (), seed: int = 100,
                       size: int = 240, env: str = "", device="cpu") -> list[Player]:
    """Write the mp4 of `run_dirs` acting side by side (module docstring) to `out`, and return the
    players as they ended. The video has one frame for the shared start state and one per step of
    the longest episode, at the env's render rate; it is written whole or not at all."""
    if Path(out).suffix != ".mp4":
        raise ValueError(f"--side-by-side {out}: give a file name ending in .mp4")
    players, env, target = load_players(run_dirs, env, list(target_returns), size, device)
    from moviepy.video.io.ffmpeg_writer import FFMPEG_VideoWriter  # moviepy: what gymnasium's RecordVideo writes with

    rows, columns = grid_shape(len(players))
    font = label_font(size)
    fps = players[0].env.metadata.get("render_fps", 30)
    try:
        reset(players, seed)
        with atomic_path(out) as tmp, FFMPEG_VideoWriter(str(tmp), (columns * size, rows * size), fps,
                                                         ffmpeg_params=["-f", "mp4", "-crf", "18"]) as writer:
            writer.write_frame(tiled([labelled(player, font) for player in players], rows, columns))
            while not all(player.ended for player in players):
                for player in players:
                    if not player.ended:
                        step(player)
                writer.write_frame(tiled([labelled(player, font) for player in players], rows, columns))
    finally:
        for player in players:
            player.env.close()
    for player in players:
        normalized = float(normalized_score(env, np.array([player.episode_return]))[0])
        print(f"{player.label}: return {player.episode_return:.1f} (normalized {normalized:.1f}), {player.status()}")
    print(f"{env} target {target:.0f}, seed {seed}: wrote {out}")
    return players
