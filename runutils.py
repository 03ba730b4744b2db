"""What every command of the suite shares: dataclass configs as flags, atomic writes, device, seeds."""
import argparse
import contextlib
import dataclasses
import os
import random
import shutil
import typing
from pathlib import Path

import numpy as np
import torch


def parse_config(config_cls, description: str = "", argv=None, positional: tuple = (), defaults=None):
    """Parse command-line flags into `config_cls`, one `--field-name` flag per dataclass field.

    Fields named in `positional` become positional arguments instead. A `list[T]` field takes
    one or more values (`--seeds 0 1 2`). `defaults`, an instance of `config_cls`, replaces the
    class's own defaults (a preset, say).
    """
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    for field in dataclasses.fields(config_cls):
        if defaults is not None:
            default = getattr(defaults, field.name)
        elif field.default is not dataclasses.MISSING:
            default = field.default
        else:
            default = field.default_factory()
        kind = type(default)
        flag = f"--{field.name.replace('_', '-')}"
        if field.name in positional:
            parser.add_argument(field.name, type=kind)
        elif kind is bool:
            parser.add_argument(flag, dest=field.name, action=argparse.BooleanOptionalAction, default=default)
        elif kind is list:
            item_type = (typing.get_args(field.type) or (str,))[0]
            parser.add_argument(flag, dest=field.name, nargs="+", type=item_type, default=default,
                                help=f"default: {' '.join(map(str, default))}")
        else:
            parser.add_argument(flag, dest=field.name, type=kind, default=default, help=f"default: {default}")
    return config_cls(**vars(parser.parse_args(argv)))


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    A crash or Ctrl-C inside the block leaves the previous file at `path` untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def pick_device(requested: str = "auto") -> torch.device:
    """CUDA when present, else CPU, unless a device is named."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
