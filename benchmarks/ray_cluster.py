"""A real two-node Ray cluster on this machine, sharing nothing but Ray, running a sweep; one node dies.

    python benchmarks/ray_cluster.py

Starts a head (`ray start --head`) and a second node (`ray start --address`, node IP 127.0.0.2),
`cpus_per_node` CPUs each, each with its own data directories (D4RL_DATASET_DIR,
MINARI_DATASETS_PATH), all with token authentication: the benchmark makes its own token in its
scratch directory and passes it to every node and the driver (RAY_AUTH_TOKEN_PATH; no ~/.ray/auth_token
needed). A D4RL-layout file is served over HTTP as D4RL's hopper-medium-v2 (D4RL_URL): every node,
and the driver, downloads its own copy, as from D4RL's server. The driver runs
`sweep.py --ray-address <head>` over `cells` small cells with a relative --out, which puts each run
directory in its node's copy of the checkout. When the second node starts its second cell, the node
is stopped: its raylet and everything under it killed. Checks, printed and written to `out`: every
cell ok in the driver's results folder with its learning curve; cells finished on both nodes; the
killed node's cell ran again and finished on the head; each node downloaded the data itself; no run
directory on the driver's side.
"""
import functools
import http.server
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.datasets import write_flat_file  # noqa: E402
from minrnn import BACKBONES  # noqa: E402
from suite.runutils import (POSITIVE, SEED, atomic_path, check_choices, comma_separated, expected_errors,  # noqa: E402
                            parse_config)

SECOND_NODE_IP = "127.0.0.2"


@dataclass
class ClusterConfig:
    cpus_per_node: int = 1
    backbones: str = "mingru,attention"
    seeds: str = "0,1"  # cells: backbones x seeds
    steps: int = 300  # per cell: long enough to stop a node mid-cell
    rows: int = 5000  # transitions in the served dataset
    port: int = 6390
    out: str = "benchmarks/results/ray-cluster.json"


CHECKS = {"cpus_per_node": POSITIVE, "rows": POSITIVE, "seeds": comma_separated(SEED),
          "steps": (lambda v: v >= 2, ">= 2 (a cell evaluates at half its steps)"),
          "port": (lambda v: 0 < v < 2**16, "a port number in [1, 65535]")}


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # one line per download on stderr is noise here
        pass


def start_node(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    """`ray start ARGS --block` in a process group of its own, returned once Ray says it runs. Stopping it
    (stop_node) ends this node's processes and no others: `ray stop` would end every Ray process on the
    machine, a user's own cluster too."""
    with open(log, "w") as out:
        node = subprocess.Popen(["ray", "start", *args, "--block"], env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    waited = time.monotonic()
    while "Ray runtime started" not in log.read_text():
        if node.poll() is not None or time.monotonic() - waited > 120:
            stop_node(node)
            raise RuntimeError(f"ray start {' '.join(args)} failed (its log: {log}):\n{log.read_text()}")
        time.sleep(0.5)
    return node


def stop_node(node: subprocess.Popen) -> None:
    """Kills a node of start_node, every process in its group."""
    try:
        os.killpg(node.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    node.wait()


def second_node_processes() -> dict[int, str]:
    """pid -> command line of the second node's Ray processes (those started with its IP) and all under them."""
    listing = subprocess.run(["ps", "-eo", "pid=,ppid=,args="], capture_output=True, text=True).stdout
    table = [line.split(None, 2) for line in listing.splitlines() if len(line.split(None, 2)) == 3]
    commands = {int(pid): args for pid, _, args in table}
    children = {}
    for pid, ppid, _ in table:
        children.setdefault(int(ppid), []).append(int(pid))
    found, todo = {}, [pid for pid, args in commands.items() if SECOND_NODE_IP in args]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found[pid] = commands[pid]
            todo += children.get(pid, [])
    return found


def running_cell(processes: dict[int, str]) -> str | None:
    """The cell whose train.py runs among `processes`, by its run directory's name."""
    for command in processes.values():
        if "train.py" in command and (match := re.search(r"--out \S*/([^/\s]+)", command)):
            return match.group(1)
    return None


def cluster_env(scratch: Path) -> dict:
    """The environment every node and the driver run with: token authentication, with the cluster's own
    token made here in `scratch` and passed as RAY_AUTH_TOKEN_PATH (nothing read from or written to ~/.ray)."""
    token = scratch / "auth_token"
    token.touch(mode=0o600)  # readable by this user alone, as ~/.ray/auth_token
    token.write_text(secrets.token_hex(32))  # the form of `ray get-auth-token --generate`'s tokens
    return {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token), "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_worker_niceness": "0"}


def main(cfg: ClusterConfig) -> dict:
    scratch = Path(tempfile.mkdtemp(prefix="ray-cluster-"))
    served = scratch / "served"
    served.mkdir()
    write_flat_file(served / "hopper_medium-v2.hdf5", "hopper", cfg.rows)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    common = {**cluster_env(scratch), "D4RL_URL": f"http://127.0.0.1:{server.server_address[1]}"}

    def node_env(name: str) -> dict:
        return {**common, "D4RL_DATASET_DIR": str(scratch / name / "d4rl"),
                "MINARI_DATASETS_PATH": str(scratch / name / "minari")}

    temp_dir = tempfile.mkdtemp(prefix="ray-")  # short: Ray's socket paths live under it
    started = time.perf_counter()
    nodes = []
    try:
        nodes.append(start_node(["--head", "--port", str(cfg.port), "--num-cpus", str(cfg.cpus_per_node), "--temp-dir",
                                 temp_dir, "--include-dashboard", "false", "--disable-usage-stats"], node_env("head"),
                                scratch / "head.log"))
        address = re.search(r"ray start --address='([^']+)'", (scratch / "head.log").read_text()).group(1)
        nodes.append(start_node(["--address", address, "--node-ip-address", SECOND_NODE_IP,
                                 "--num-cpus", str(cfg.cpus_per_node)], node_env("node2"), scratch / "node2.log"))
        return run_sweep(cfg, scratch, node_env, address, started)
    finally:
        for node in nodes:
            stop_node(node)
        server.shutdown()


def run_sweep(cfg: ClusterConfig, scratch: Path, node_env, address: str, started: float) -> dict:
    """The driver's sweep on the running cluster, the second node killed in its second cell; the checks."""
    results = scratch / "results"
    sweep = subprocess.Popen(
        [sys.executable, "sweep.py", "--ray-address", address, "--datasets", "d4rl:hopper-medium-v2",
         "--backbones", *cfg.backbones.split(","), "--seeds", *cfg.seeds.split(","), "--out", "runs/ray-cluster",
         "--results", str(results), "--", "--d-model", "16", "--batch-size", "8", "--steps", str(cfg.steps),
         "--checkpoint-every", "50", "--eval-every", str(cfg.steps // 2), "--eval-episodes", "1", "--num-envs", "1"],
        cwd=REPO, env=node_env("driver"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen_on_second, stopped_cell = [], None
    try:
        while sweep.poll() is None and stopped_cell is None:
            cell = running_cell(second_node_processes())
            if cell and cell not in seen_on_second:
                seen_on_second.append(cell)
            if len(seen_on_second) == 2:  # its first cell is done and the second runs: the node dies now
                stopped_cell = cell
                for pid in second_node_processes():
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            time.sleep(0.5)
        output, _ = sweep.communicate(timeout=3600)
    finally:
        if sweep.poll() is None:
            sweep.kill()
    records = {path.stem: json.loads(path.read_text()) for path in sorted(results.glob("*.json"))}
    nodes = {name: record.get("ray_node") for name, record in records.items()}
    checks = {
        "every cell ok, with its learning curve": bool(records) and all(
            r["status"] == "ok" and r["curves"].get("eval/normalized_return_3600") for r in records.values()),
        "cells finished on both nodes": len(set(nodes.values())) == 2,
        "the second node was stopped in a cell": stopped_cell is not None,
        "the stopped node's cell ran again and finished on the head": stopped_cell is not None
        and records.get(stopped_cell, {}).get("status") == "ok" and nodes.get(stopped_cell) != SECOND_NODE_IP,
        "each node downloaded its own copy of the data": all(
            (scratch / name / "d4rl" / "hopper_medium-v2.hdf5").exists() for name in ("head", "node2", "driver")),
        "no run directory on the driver's side": not (REPO / "runs" / "ray-cluster").exists(),
    }
    summary = {"config": asdict(cfg), "address": address, "seconds": round(time.perf_counter() - started, 1),
               "cells": {name: {"status": r["status"], "ray_node": nodes[name], "error": r.get("error")}
                         for name, r in records.items()},
               "stopped_cell": stopped_cell, "checks": checks, "sweep_exit_status": sweep.returncode,
               "sweep_output_tail": output.splitlines()[-12:]}
    for name, cell in summary["cells"].items():
        print(f"{name}: {cell['status']} on {cell['ray_node']}" + (" (its first node was stopped)" if name == stopped_cell else ""))
    for check, passed in checks.items():
        print(f"{'ok ' if passed else 'FAILED'} {check}")
    with atomic_path(cfg.out) as tmp:
        tmp.write_text(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    config = parse_config(ClusterConfig, __doc__, checks=CHECKS)
    with expected_errors():
        check_choices("--backbones", config.backbones.split(","), list(BACKBONES))
    summary = main(config)
    sys.exit(0 if all(summary["checks"].values()) else 1)
