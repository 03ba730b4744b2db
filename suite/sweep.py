"""The sweep: a grid of cells (env, dataset, backbone, regime, seed, preset), each trained by train.py and
evaluated by evaluate.py as subprocesses, locally in a process pool or as Ray tasks, each finished cell written
as one JSON. sweep.py is its command; its --help says what a cell records and how a sweep resumes.
"""
import contextlib
import json
import math
import os
import platform
import shlex
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from itertools import product
from multiprocessing import get_context
from pathlib import Path

from agents.decision import agent_version, saved_config
from agents.regimes import REGIMES
from envs import DATASETS, ENVS, load_dataset
from envs.load import data_id, recorded_data_id
from minrnn import BACKBONES
from suite.rundir import read_result
from suite.runutils import (NON_NEGATIVE, POSITIVE, RUN_IN_USE_STATUS, Interrupted, StopSignals, atomic_path, each_of,
                            one_of, parse_config, pick_device, refuse_renamed_flags)
from suite.training import PRESETS, load_config

REPO = Path(__file__).resolve().parent.parent  # the checkout: train.py and evaluate.py are its scripts
# what the checkout sends to Ray's nodes leaves out run directories, results and history
RAY_EXCLUDES = [".git", "runs", "results", "benchmarks/results", "docs"]
# train.py's exit statuses when SIGINT or SIGTERM stopped it at a checkpoint (128 + the signal's number)
INTERRUPTED_STATUSES = (128 + signal.SIGINT, 128 + signal.SIGTERM)
RAY_RETRIES = 3  # times a cell whose node died is started again elsewhere
# train.py flags that the sweep sets per cell; passing them after -- would break the grid
CELL_FLAGS = ("--env", "--dataset", "--backbone", "--regime", "--seed", "--preset", "--out", "--resume")


@dataclass
class SweepConfig:
    envs: list[str] = field(default_factory=lambda: ["hopper"])  # the MuJoCo envs of the grid
    datasets: list[str] = field(default_factory=lambda: ["medium", "medium-replay"])  # as train.py's --dataset
    backbones: list[str] = field(default_factory=lambda: ["mingru", "minlstm", "mamba", "attention"])  # of the grid
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])  # training seeds of the grid
    regimes: list[str] = field(default_factory=lambda: ["window"])  # the regimes of the grid
    preset: str = "cpu"  # train.py's preset for every cell (the paper preset's cells are named apart)
    workers: int = 0  # cells at once in the local pool; 0: the cores divided by each cell's threads
    ray_address: str = ""  # run on Ray: "local" (a new instance here), "auto", or "ray://host:port"
    out: str = "runs/sweep"  # run directories
    results: str = "results/cells"  # one JSON per cell
    retry_failed: bool = False  # run the cells whose JSON says failed again
    final_episodes: int = 0  # episodes per target in the evaluation after the last step; 0: the run's eval_episodes
    target_sweep: list[float] = field(default_factory=list)  # targets of a return-conditioning sweep after the last step
    sweep_episodes: int = 20  # episodes per target of that sweep


@dataclass(frozen=True)
class Cell:
    env: str
    dataset: str  # as train.py's --dataset takes it
    backbone: str
    regime: str
    seed: int
    preset: str = "cpu"  # train.py's preset for every cell (the paper preset's cells are named apart)

    @property
    def task(self) -> str:
        """env-dataset, with a dataset file named by its stem and d4rl:/minari: names made path-safe."""
        dataset = Path(self.dataset).stem if self.dataset.endswith((".hdf5", ".h5")) else self.dataset
        return f"{self.env}-{dataset.replace(':', '-').replace('/', '-')}"

    @property
    def name(self) -> str:
        """The preset appears unless it is cpu, so a paper-preset grid lives beside the cpu one."""
        preset = "" if self.preset == "cpu" else f"-{self.preset}"
        return f"{self.task}-{self.backbone}-{self.regime}{preset}-s{self.seed}"

    def keys(self) -> dict:
        return {**asdict(self), "task": self.task, "name": self.name}


def describe_machine(device: str) -> dict:
    """Where a cell ran, for the results' record."""
    import torch

    resolved = pick_device(device)
    cpuinfo = Path("/proc/cpuinfo")
    models = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
              if line.startswith("model name")] if cpuinfo.exists() else []
    return {"platform": platform.platform(), "cpu": models[0] if models else platform.processor(),
            "cpu_count": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
            "device": str(resolved), "gpu": torch.cuda.get_device_name(resolved) if resolved.type == "cuda" else None}


def describe_checkout(workdir: str) -> dict | None:
    """The git commit a cell's code came from, and whether its Python files differed from it
    (None outside a git checkout): a rerun reproduces a cell's scores only on the same code."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=workdir, capture_output=True, text=True)
    try:
        head = git("rev-parse", "HEAD")
    except OSError:
        return None
    if head.returncode != 0:
        return None
    return {"commit": head.stdout.strip(), "python_files_modified": git("diff", "--quiet", "HEAD", "--", "*.py").returncode != 0}


def run_logged(args: list[str], log_path: Path, workdir: str) -> tuple[int, float, str]:
    """Run `python *args`, appending its output to log_path: (exit status, seconds, the output's last lines)."""
    with open(log_path, "ab") as log:
        log.write(f"$ python {shlex.join(args)}\n".encode())
        log.flush()
        offset = log.tell()
        start = time.perf_counter()
        status = subprocess.run([sys.executable, *args], cwd=workdir, stdout=log, stderr=subprocess.STDOUT).returncode
        seconds = time.perf_counter() - start
    with open(log_path, "rb") as log:
        log.seek(offset)
        output = log.read().decode(errors="replace").replace("\r", "\n")  # tqdm redraws with \r
    lines = [line for line in output.splitlines() if line.strip()]
    return status, seconds, "\n".join(lines[-15:])[-3000:]


def new_record(cell: Cell, run_dir: str) -> dict:
    return {"status": "failed", "error": None, "cell": cell.keys(), "run_dir": run_dir}


def run_cell(cell: Cell, train_argv: list[str], eval_argv: list[str], sweep_argv: list[str] | None, run_dir: str,
             workdir: str | None) -> dict:
    """Train (or resume) and evaluate one cell, then run its return-conditioning sweep (sweep_argv,
    when given); its record for the cell JSON. Runs in a pool worker or a Ray task.

    The argv lists start with a script of the checkout (train.py, evaluate.py); run_dir and the
    paths in them are relative to `workdir`. workdir None: the process's own working directory,
    which on Ray is the checkout's copy on the cell's node.
    """
    code = REPO if workdir else Path.cwd()
    workdir = workdir or os.getcwd()
    record = new_record(cell, run_dir)
    path = Path(workdir, run_dir)
    train_argv, eval_argv = [str(code / train_argv[0]), *train_argv[1:]], [str(code / eval_argv[0]), *eval_argv[1:]]
    sweep_argv = sweep_argv and [str(code / sweep_argv[0]), *sweep_argv[1:]]
    try:  # whatever goes wrong belongs in this cell's record, not in the whole sweep
        path.mkdir(parents=True, exist_ok=True)
        record["resumed"] = (path / "checkpoint.pt").exists()
        status, record["train_s"], tail = run_logged(train_argv + ["--resume"] * record["resumed"],
                                                     path / "sweep.log", workdir)
        if status == RUN_IN_USE_STATUS:  # another process is training this cell: its result is that one's
            return record | {"status": "in use", "error": tail}
        if status in INTERRUPTED_STATUSES:  # stopped at a checkpoint: the next sweep resumes it
            return record | {"status": "interrupted", "error": tail}
        if status == 0:
            status, record["evaluate_s"], tail = run_logged(eval_argv, path / "sweep.log", workdir)
        if status == 0 and sweep_argv:
            status, record["target_sweep_s"], tail = run_logged(sweep_argv, path / "sweep.log", workdir)
        config_path = path / "config.json"
        record["train_config"] = saved_config(json.loads(config_path.read_text())) if config_path.exists() else None
        record["agent_version"] = agent_version(record["train_config"]) if record["train_config"] else None
        record["machine"] = describe_machine(record["train_config"]["device"] if record["train_config"] else "auto")
        if status != 0:
            record["error"] = tail
            return record
        record |= read_result(path, target_sweep="target_sweep.json" if sweep_argv else None)
        record["status"] = "ok"
    except Exception as error:
        record["error"] = f"{type(error).__name__}: {error}"
    return record


def ignore_stop_signals() -> None:
    """A pool worker's: SIGTERM and SIGINT are for its train.py, which checkpoints and exits; the worker
    waits for it and returns the cell's record."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def descendants(pid: int) -> list[int]:
    """The processes below `pid` (its children, theirs, ...), from Linux's /proc."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):  # a process that ended meanwhile
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found


def run_local(tasks: list[tuple], workers: int):
    """Yield each cell's record as it finishes, from a pool of `workers` processes.

    SIGTERM or SIGINT stop the sweep: cells not started are dropped, each running train.py is sent SIGTERM
    and saves its checkpoint (an "interrupted" record, no cell JSON), and `Interrupted` is raised once
    they have all returned; rerunning the sweep resumes them."""
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=ignore_stop_signals) as pool, \
            StopSignals() as signals:
        futures = {pool.submit(run_cell, *task): task for task in tasks}
        pending = set(futures)
        signals.urgent = True
        try:
            for future in as_completed(futures):
                pending.discard(future)
                yield record_of(future, futures[future])
        except Interrupted:
            signals.urgent = False
            for future in pending:
                future.cancel()
            for pid in descendants(os.getpid()):  # train.py and evaluate.py; the workers ignore it
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            for future in as_completed([future for future in pending if not future.cancelled()]):
                yield record_of(future, futures[future])
            raise


def record_of(future, task: tuple) -> dict:
    cell, *_, run_dir, _ = task
    try:
        return future.result()
    except Exception as error:  # the worker process died
        return {**new_record(cell, run_dir), "error": f"{type(error).__name__}: {error}"}


def run_cell_on_ray_node(*task) -> dict:
    """run_cell in a Ray task, in the job's copy of the checkout on its node; the record names the node."""
    import ray

    return {**run_cell(*task), "ray_node": ray.util.get_node_ip_address()}


RAY_CONNECT_TIMEOUT_S = 20  # for a Ray address to answer; ray.init itself retries for minutes
RAY_TOKEN_NEEDED = ("a cluster started with RAY_AUTH_MODE=token admits only clients with its token: copy its token "
                    "file (the RAY_AUTH_TOKEN_PATH its nodes run with, else ~/.ray/auth_token on its head) to this "
                    "machine and run sweep.py with RAY_AUTH_MODE=token and RAY_AUTH_TOKEN_PATH=<that file> "
                    "(or RAY_AUTH_TOKEN=<the token>)")


def check_ray_cluster(address: str) -> None:
    """Stop in one line, within RAY_CONNECT_TIMEOUT_S, where ray.init would print its retries for minutes:
    nothing answers at `address` (host:port of a head, "auto"'s cluster, or ray://host:port), or the
    cluster takes token authentication and this process sends no token or another one. One gRPC call
    to the cluster, with the token ray.init would send."""
    import grpc
    from ray._private.services import canonicalize_bootstrap_address_or_die
    from ray._raylet import AuthenticationMode, AuthenticationTokenLoader, get_authentication_mode
    from ray.core.generated import gcs_service_pb2, gcs_service_pb2_grpc

    if address == "local":  # a new instance, here
        return
    target = canonicalize_bootstrap_address_or_die(address) if address == "auto" else address.removeprefix("ray://")
    tokens = AuthenticationTokenLoader.instance()
    has_token = tokens.has_token(ignore_auth_mode=True)
    # ray.init sends the token in token mode; for "auto" it turns token mode on itself when it finds one
    sends_token = has_token and (get_authentication_mode() == AuthenticationMode.TOKEN or address == "auto")
    if get_authentication_mode() == AuthenticationMode.TOKEN and not has_token:
        raise ValueError(f"RAY_AUTH_MODE=token, but this process has no token (none in RAY_AUTH_TOKEN, "
                         f"RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token) for --ray-address {address}; {RAY_TOKEN_NEEDED}")
    with grpc.insecure_channel(target) as channel:
        try:  # the call ray.init starts with; a Ray Client server (ray://) answers it as unimplemented
            gcs_service_pb2_grpc.NodeInfoGcsServiceStub(channel).GetClusterId(
                gcs_service_pb2.GetClusterIdRequest(), timeout=RAY_CONNECT_TIMEOUT_S,
                metadata=list(tokens.get_token_for_http_header(ignore_auth_mode=True).items()) if sends_token else [])
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.UNAUTHENTICATED:
                sent = "a token it does not take" if sends_token else (
                    "no token (RAY_AUTH_MODE is not token)" if has_token else "no token")
                raise ValueError(f"the Ray cluster at --ray-address {address} refused this process, which sent "
                                 f"{sent}; {RAY_TOKEN_NEEDED}") from None
            if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise ValueError(f"--ray-address {address}: no Ray cluster answers there "
                                 f"({error.details()}); allowed: the address of a running "
                                 f"cluster's head, host:port as `ray start --head` prints it (port 6379 unless "
                                 f"--port), \"auto\" on one of its nodes, or \"local\": start the cluster, or check "
                                 f"the host, the port and that this machine reaches it") from None


def run_on_ray(tasks: list[tuple], resources: list[tuple[int, int]], address: str):
    """Yield each cell's record as it finishes, one Ray task per cell with its (CPUs, GPUs) declared,
    retried on another node when its node dies."""
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False,
                 runtime_env={"working_dir": str(REPO), "excludes": RAY_EXCLUDES})
    if any(gpus for _, gpus in resources) and not ray.cluster_resources().get("GPU"):
        print("warning: the cells ask for a GPU and the Ray cluster has none; they wait until one joins", flush=True)
    remote_cell = ray.remote(run_cell_on_ray_node)
    pending = {remote_cell.options(num_cpus=cpus, num_gpus=gpus, max_retries=RAY_RETRIES).remote(*task): task
               for task, (cpus, gpus) in zip(tasks, resources)}
    try:
        while pending:
            (done,), _ = ray.wait(list(pending), num_returns=1)
            cell, *_, run_dir, _ = pending.pop(done)
            try:
                yield ray.get(done)
            except ray.exceptions.RayError as error:  # the task or its worker died
                yield {**new_record(cell, run_dir), "error": f"{type(error).__name__}: {error}"}
    finally:
        if started_here:
            ray.shutdown()


def cell_resources(train_config) -> tuple[int, int]:
    """(CPU threads, GPUs) a cell needs: train.py's --threads (0, torch's default, takes every core)
    and one GPU for the paper preset or a cuda device."""
    gpus = int(train_config.preset == "paper" or train_config.device.startswith("cuda"))
    return train_config.threads or os.cpu_count(), gpus


def write_cell(record: dict, cfg: SweepConfig, command: str, code: dict | None, data_mean: dict, data: dict,
               failed: list, counter: str) -> None:
    """Write a finished cell's JSON (a failed one too) with what the sweep knows of it, and say how it went."""
    record |= {"sweep_command": command, "code": code}
    record["dataset_mean_normalized"] = data_mean[record["cell"]["env"], record["cell"]["dataset"]]
    loaded, trained_on = data[record["cell"]["env"], record["cell"]["dataset"]], record.get("data")
    if record["status"] == "ok" and trained_on != loaded:
        record |= {"status": "failed",
                   "error": f"the cell trained on {trained_on['id']} (sha256 {trained_on['sha256']}), "
                            f"not on the sweep's {loaded['id']} (sha256 {loaded['sha256']})"}
    record["data"] = loaded
    with atomic_path(Path(cfg.results) / f"{record['cell']['name']}.json") as tmp:
        tmp.write_text(json.dumps(record, indent=1))
    if record["status"] == "ok":
        target = record["evaluation"]["results"][0]
        outcome = (f"ok, normalized {target['normalized_mean']:.1f} at target {target['target_return']:.0f}, "
                   f"train {record['train_s']:.0f} s")
    else:
        failed.append(record)
        outcome = f"FAILED: {record['error'].splitlines()[-1] if record['error'] else ''}"
    print(f"{counter} {record['cell']['name']}: {outcome}", flush=True)


def run_sweep(argv: list[str], doc: str = "") -> int:
    """sweep.py's work: check its flags (`argv`; `doc` is its --help), run the grid's cells that are not done, write
    their JSONs; 1 when any cell of the grid is failed, else 0."""
    argv = list(argv)
    split = argv.index("--") if "--" in argv else len(argv)
    checks = {"envs": each_of(ENVS), "backbones": each_of(BACKBONES), "regimes": each_of(REGIMES), "preset": one_of(PRESETS),
              "workers": NON_NEGATIVE, "final_episodes": NON_NEGATIVE, "sweep_episodes": POSITIVE,
              "target_sweep": (lambda v: all(math.isfinite(x) for x in v), "finite numbers, e.g. 600 1200 1800")}
    refuse_renamed_flags(argv[:split], {"--contexts": "--regimes"})
    cfg, train_flags = parse_config(SweepConfig, doc, argv[:split], checks=checks), argv[split + 1:]
    if cfg.ray_address:  # before any dataset is loaded (or generated)
        check_ray_cluster(cfg.ray_address)
    for dataset in cfg.datasets:
        if dataset not in DATASETS and not dataset.startswith(("d4rl:", "minari:")) and not Path(dataset).is_file():
            raise ValueError(f"unknown value {dataset!r} in --datasets; valid: {', '.join(DATASETS)}, "
                             f"d4rl:<env>-<dataset>-v2, minari:<dataset id>, or a path to a .hdf5 file")
    for flag in train_flags:
        if flag.split("=")[0] in CELL_FLAGS:
            raise ValueError(f"{flag} after -- is set per cell by the sweep; use sweep.py's own flags "
                             f"(--envs, --datasets, --backbones, --regimes, --seeds, --preset, --out)")
    command = shlex.join(["python", "sweep.py", *argv])
    # seed by seed, so that an interrupted sweep has every other cell at its first seeds; one backbone's
    # regimes one after the other, so that the cells a regime comparison pairs run on the same machine
    # (figures differ between CPU models) even when a sweep spans sessions on different machines
    cells = [Cell(env, dataset, backbone, regime, seed, cfg.preset) for seed, env, dataset, backbone, regime
             in product(cfg.seeds, cfg.envs, cfg.datasets, cfg.backbones, cfg.regimes)]

    # a cell made by another agent version (cells before versions existed: 1) is made again
    version = agent_version(asdict(load_config(["--preset", cfg.preset, *train_flags])))
    todo, skipped, failed_before = [], 0, []
    for cell in cells:
        path = Path(cfg.results) / f"{cell.name}.json"
        previous = json.loads(path.read_text()) if path.exists() else None
        if previous:
            made_on, now = recorded_data_id(cell.env, cell.dataset, previous.get("data")), data_id(cell.env, cell.dataset)
            if made_on != now:
                raise ValueError(f"{path} was made on {made_on}, but --datasets {cell.dataset} is now {now}; "
                                 f"allowed: cells of the same data in one --results folder. Pass another --results "
                                 f"for the new data")
        if previous and previous.get("agent_version", 1) != version:
            previous = None
        if previous and (previous["status"] == "ok" or not cfg.retry_failed):
            skipped += 1
            if previous["status"] == "failed":
                failed_before.append(previous)
        else:
            todo.append(cell)
    # suite datasets are generated on first use: once here, rather than by two cells at once;
    # the data's own mean normalized episode return goes with each cell, to read the scores against
    data_mean, data = {}, {}
    for env, dataset in sorted({(cell.env, cell.dataset) for cell in todo}):
        loaded = load_dataset(f"{env}-{dataset}" if dataset in DATASETS else dataset, env=env)
        data_mean[env, dataset] = float(loaded.normalized_returns().mean())
        data[env, dataset] = loaded.identity()

    tasks, resources = [], []
    for cell in todo:
        run_dir = str(Path(cfg.out) / cell.name)
        train_argv = ["train.py", "--preset", cfg.preset, "--env", cell.env, "--dataset", cell.dataset,
                      "--backbone", cell.backbone, "--regime", cell.regime, "--seed", str(cell.seed),
                      "--out", run_dir, *train_flags]
        train_config = load_config(train_argv[1:])  # the config train.py will resolve; bad flags fail here
        cpus, gpus = cell_resources(train_config)
        eval_argv = ["evaluate.py", run_dir, "--num-envs", str(train_config.num_envs), "--device", train_config.device,
                     "--threads", str(cpus)]
        final_argv = eval_argv + ["--episodes", str(cfg.final_episodes or train_config.eval_episodes),
                                  "--json", str(Path(run_dir) / "evaluate.json")]
        sweep_argv = eval_argv + ["--episodes", str(cfg.sweep_episodes), "--target-returns",
                                  *map(str, cfg.target_sweep), "--json", str(Path(run_dir) / "target_sweep.json")]
        tasks.append((cell, train_argv, final_argv, sweep_argv if cfg.target_sweep else None, run_dir,
                      None if cfg.ray_address else os.getcwd()))
        resources.append((cpus, gpus))

    print(f"{len(cells)} cells: {len(todo)} to run, {skipped} skipped "
          f"({len(failed_before)} failed before{'' if cfg.retry_failed else '; --retry-failed reruns them'})",
          flush=True)
    if cfg.ray_address:
        records = run_on_ray(tasks, resources, cfg.ray_address)
    else:
        workers = cfg.workers or max(1, (os.cpu_count() or 1) // max((cpus for cpus, _ in resources), default=1))
        records = run_local(tasks, min(workers, max(1, len(tasks))))
    failed_now, in_use, interrupted, code = [], 0, 0, describe_checkout(os.getcwd())
    try:
        for done, record in enumerate(records, 1):
            if record["status"] == "interrupted":  # no record: the next sweep resumes it from its checkpoint
                interrupted += 1
                print(f"[{done}/{len(todo)}] {record['cell']['name']}: interrupted, its checkpoint kept", flush=True)
            elif record["status"] == "in use":  # no record: the process that holds the run writes it
                in_use += 1
                print(f"[{done}/{len(todo)}] {record['cell']['name']}: left to the process training it "
                      f"({record['error'].splitlines()[-1]})", flush=True)
            else:
                write_cell(record, cfg, command, code, data_mean, data, failed_now, f"[{done}/{len(todo)}]")
    except Interrupted as stop:
        raise Interrupted(f"{stop}: {interrupted} running cell(s) stopped at their checkpoints, the cells not "
                          f"started dropped; rerun the same command to go on", stop.signum) from None

    print(f"done {len(todo) - in_use} ({len(todo) - in_use - len(failed_now)} ok, {len(failed_now)} failed), "
          f"skipped {skipped} ({len(failed_before)} of them failed before), {in_use} left to another process")
    for record in failed_before + failed_now:
        print(f"  failed: {record['cell']['name']} ({Path(cfg.results) / record['cell']['name']}.json)")
    return 1 if failed_before or failed_now else 0

