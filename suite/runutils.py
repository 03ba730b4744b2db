"""What every command of the suite shares: dataclass configs as flags, checked; one way to report
an expected error; atomic writes; device; seeds. (Run directories and checkpoints: suite/rundir.py.)

Every expected error of a command (a bad flag value, a missing or corrupt file, an unreachable
download, a checkpoint of another run) ends it with one line on stderr, `error: ...`, and exit
status 1 (a run directory that another live process is writing: RUN_IN_USE_STATUS); a traceback
means a bug. Flag values are checked as they are parsed, before anything is written.
"""
import argparse
import contextlib
import dataclasses
import errno
import fcntl
import inspect
import json
import math
import os
import random
import re
import shutil
import signal
import sys
import threading
import tokenize
import typing
from pathlib import Path

import numpy as np
import torch

# allowed values of config fields, (predicate, what is allowed), for `parse_config`'s `checks`
POSITIVE = (lambda v: 0 < v < math.inf, "> 0")
NON_NEGATIVE = (lambda v: 0 <= v < math.inf, ">= 0")
SEED = (lambda v: 0 <= v < 2**32, "an integer in [0, 2**32)")  # numpy's global seed takes no other
PROBABILITY = (lambda v: 0 <= v < 1, "a number in [0, 1)")


def one_of(choices) -> tuple:
    return (lambda v: v in choices, ", ".join(choices))


def each_of(choices) -> tuple:
    """For a list-valued field: every item one of `choices`."""
    return (lambda values: all(v in choices for v in values), ", ".join(choices))


def comma_separated(check: tuple) -> tuple:
    """For a comma-separated text field (a benchmark's --lengths 64,512): every item an integer `check` allows."""
    return (lambda text: all(re.fullmatch(r"\s*-?\d+\s*", item) and check[0](int(item)) for item in text.split(",")),
            f"comma-separated integers, each {check[1]}")


def is_device(name: str) -> bool:
    """Whether `name` is "auto", "cpu" or a CUDA device; whether this machine has that GPU is
    `pick_device`'s to check, on the machine that runs (a sweep parses flags on another)."""
    try:
        return name == "auto" or torch.device(name).type in ("cpu", "cuda")
    except RuntimeError:
        return False


DEVICE = (is_device, "auto, cpu, cuda or cuda:<index>")


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one `error: ...` line like every other expected error, not a usage block."""

    def error(self, message):
        raise SystemExit(f"error: {message.removeprefix('argument ')} (see {self.prog} --help)")


def check_config(cfg, checks: dict) -> None:
    """Stop at the first field of `cfg` outside its allowed values, naming the flag, the value and
    what is allowed. `checks` maps field names to (predicate, description), e.g. {"steps": POSITIVE}."""
    for name, (allowed, description) in checks.items():
        value = getattr(cfg, name)
        if not allowed(value):
            if isinstance(value, list):  # name the first item that is not allowed
                value = next(item for item in value if not allowed([item]))
            raise SystemExit(f"error: --{name.replace('_', '-')}: value {value!r} is invalid; allowed: {description}")


def field_descriptions(config_cls) -> dict[str, str]:
    """Each dataclass field's own one-line description: the `# ...` comment that ends the line that
    declares it, in `config_cls` or the dataclass it extends (as tyro and CleanRL read them)."""
    descriptions = {}
    for cls in reversed(config_cls.__mro__):
        if not dataclasses.is_dataclass(cls):
            continue
        lines = inspect.getsource(cls).splitlines()
        for token in tokenize.generate_tokens(iter(line + "\n" for line in lines).__next__):
            if token.type == tokenize.COMMENT:
                declared = re.match(r"\s+(\w+)\s*:", lines[token.start[0] - 1])
                if declared and declared.group(1) in cls.__dataclass_fields__:
                    descriptions[declared.group(1)] = token.string.lstrip("#").strip()
    return descriptions


def parse_config(config_cls, description: str = "", argv=None, positional: tuple = (), defaults=None,
                 checks: dict | None = None):
    """Parse command-line flags into `config_cls`, one `--field-name` flag per dataclass field, whose
    help is the field's description (`field_descriptions`), its allowed values (`checks`) and its default.

    Fields named in `positional` become positional arguments instead. A `list[T]` field takes
    one or more values (`--seeds 0 1 2`). `defaults`, an instance of `config_cls`, replaces the
    class's own defaults (a preset, say). `checks` (see `check_config`) bounds the values.
    """
    parser = OneLineParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    descriptions = field_descriptions(config_cls)
    for field in dataclasses.fields(config_cls):
        if defaults is not None:
            default = getattr(defaults, field.name)
        elif field.default is not dataclasses.MISSING:
            default = field.default
        else:
            default = field.default_factory()
        kind = type(default)
        flag = f"--{field.name.replace('_', '-')}"
        allowed = f"; allowed: {checks[field.name][1]}" if checks and field.name in checks else ""
        shown = " ".join(map(str, default)) if kind is list else str(default)
        help_text = f"{descriptions.get(field.name, '')}{allowed}{f' (default: {shown})' if shown else ''}".replace("%", "%%")
        if field.name in positional:
            parser.add_argument(field.name, type=kind, help=descriptions.get(field.name))
        elif kind is bool:
            parser.add_argument(flag, dest=field.name, action=argparse.BooleanOptionalAction, default=default,
                                help=descriptions.get(field.name))
        elif kind is list:
            item_type = (typing.get_args(field.type) or (str,))[0]
            parser.add_argument(flag, dest=field.name, nargs="+", type=item_type, default=default, help=help_text)
        else:
            parser.add_argument(flag, dest=field.name, type=kind, default=default, help=help_text)
    cfg = config_cls(**vars(parser.parse_args(argv)))
    check_config(cfg, checks or {})
    return cfg


RUN_IN_USE_STATUS = 75  # BSD's EX_TEMPFAIL: try again later; sweep.py skips such a cell for now


class RunInUse(ValueError):
    """Another live process holds the run directory (hold_run)."""


class RunHold:
    """An exclusive lock on a run directory (hold_run); released by close(), when the object is dropped,
    or when the process ends, however it ends (the OS drops the lock on kill -9 too)."""

    def __init__(self, run_dir: Path):
        self.fd = None
        self.fd = os.open(run_dir, os.O_RDONLY)  # the directory itself: nothing is written into the run
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.close()
            raise RunInUse(f"{run_dir} is being written by another process; allowed: one process per run "
                           f"directory: wait for it to end, or pass another --out") from None

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    __del__ = close


def hold_run(run_dir: Path) -> RunHold:
    """Take `run_dir` (made if missing) for this process, so that two processes never write one run;
    RunInUse if another process has it."""
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    return RunHold(Path(run_dir))


_locks_held = threading.local()


@contextlib.contextmanager
def exclusive_lock(directory: Path):
    """Hold an exclusive lock on `directory` (made if missing) for the block, once any other process or
    thread holding it is done; the OS drops it however a process ends. Reentrant within a thread, like
    threading.RLock, so that a function taking the lock may call another that takes it too."""
    Path(directory).mkdir(parents=True, exist_ok=True)
    key = Path(directory).resolve()
    held = _locks_held.__dict__.setdefault("paths", set())
    if key in held:
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        held.add(key)
        yield
    finally:
        held.discard(key)
        os.close(fd)


class Interrupted(BaseException):
    """A command stopped by SIGTERM or SIGINT once its work was saved; it exits with 128 + the signal's number,
    as a shell reports a process the signal ended."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum


class StopSignals:
    """Within the block, SIGTERM (what Ray, Slurm and container runtimes send before they kill) and SIGINT
    (Ctrl-C) are recorded in `received` instead of ending the process, so that the work in hand can be
    saved; while `urgent` is true, one raises `Interrupted` at once (work that can be redone, such as an
    evaluation, is abandoned). The previous handlers come back after the block."""

    def __init__(self):
        self.received, self.urgent, self.previous = None, False, {}

    def interrupted(self) -> Interrupted:
        return Interrupted(f"{signal.Signals(self.received).name} received", self.received)

    def _handle(self, signum, frame):
        self.received = signum
        if self.urgent:
            raise self.interrupted()

    def __enter__(self):
        for signum in (signal.SIGTERM, signal.SIGINT):
            self.previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def expected_errors():
    """Around a command's `__main__`: a ValueError (a bad value or name) or an OSError (a missing,
    corrupt or unreachable file, a full disk) ends the command with one line, `error: ...`, and exit
    status 1 (RUN_IN_USE_STATUS for RunInUse; 128 + the signal's number for Interrupted, with a line
    `stopped: ...`). Anything else is a bug and keeps its traceback."""
    try:
        yield
    except RunInUse as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(RUN_IN_USE_STATUS) from None
    except Interrupted as interrupted:
        print(f"stopped: {interrupted}", file=sys.stderr)
        raise SystemExit(128 + interrupted.signum) from None
    except (ValueError, OSError) as error:
        raise SystemExit(f"error: {error}") from None


NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)  # a full disk, a quota, a file-size limit


def no_space(path: Path, error: Exception) -> OSError:
    """The one-line error for a write to `path` that failed for lack of space (`error` is the OSError, or
    torch.save's RuntimeError, which carries no errno)."""
    directory = Path(path).parent
    free = shutil.disk_usage(directory).free if directory.exists() else 0
    reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error).splitlines()[0]
    return OSError(f"cannot write {path}: no space for it ({reason}; {free:,} bytes free on its disk). Free some "
                   f"space, or pass --out on another disk; the file as it was before is kept")


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
    except OSError as error:
        if error.errno in NO_SPACE:
            raise no_space(path, error) from None
        raise
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def write_report(out_dir, stem: str, result: dict, markdown: str) -> None:
    """Write a benchmark's result as `<stem>.json` and its table as `<stem>.md` in out_dir, each atomically."""
    with atomic_path(Path(out_dir) / f"{stem}.json") as tmp:
        tmp.write_text(json.dumps(result, indent=1))
    with atomic_path(Path(out_dir) / f"{stem}.md") as tmp:
        tmp.write_text(markdown.rstrip("\n") + "\n")


def append_json_line(path, record: dict) -> None:
    """Add `record` as the last line of a JSON-lines file, atomically: the file is rewritten whole
    beside itself and renamed, so a crash leaves the old lines or the new ones, never half a line."""
    path = Path(path)
    old = path.read_text() if path.exists() else ""
    with atomic_path(path) as tmp:
        tmp.write_text(old + json.dumps(record) + "\n")


def refuse_renamed_flags(argv: list[str], renamed: dict[str, str]) -> None:
    """Stop at a flag of an earlier version (`renamed`: old flag -> new flag) with one line naming the new one."""
    for flag in argv:
        name, _, value = flag.partition("=")
        if name in renamed:
            raise SystemExit(f"error: {name} is now {renamed[name]}; pass {renamed[name]} with the same value(s)")


def check_choices(flag: str, values: list[str], valid) -> None:
    """A list-valued flag's values, each one of `valid`: else the first other one, named with the valid ones."""
    unknown = [value for value in values if value not in valid]
    if unknown:
        raise ValueError(f"unknown value {unknown[0]!r} in {flag}; valid: {', '.join(valid)}")


def replace_marked_section(page: Path, name: str, section: str) -> None:
    """Replace, atomically, what lies between the lines `<!-- name:start -->` and `<!-- name:end -->`
    of a markdown page: the generated part of a hand-written page."""
    start_marker, end_marker = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = page.read_text()
    start, end = text.find(start_marker), text.find(end_marker)
    if start < 0 or end < start:
        raise ValueError(f"{page} has no {start_marker} ... {end_marker} markers; add them where the text goes")
    with atomic_path(page) as tmp:
        tmp.write_text(text[:start + len(start_marker)] + "\n" + section + text[end:])


def pick_device(requested: str = "auto") -> torch.device:
    """CUDA when present, else CPU, unless a device is named; a GPU this machine lacks is an error."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ValueError(f"--device {requested}: this machine has {torch.cuda.device_count()} CUDA GPUs; "
                         f"use --device cpu or auto")
    return device


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
