"""Data-parallel training on torch: N gloo processes of ``torch.distributed``.

A ``Group`` spawns N ranks (``torch.multiprocessing``'s spawn context) joined by one gloo
process group, initialised through a ``file://`` store in a private temporary folder. The group
lives for the run (one per world size and process): starting N processes that import torch is
the slow part, so every case after the first only sends its job. For each job every rank builds
the case's reference model on the torch backend from the same weights, takes its shard of each
batch, differentiates its weighted shard loss with the reference library, ``all_reduce``s the
gradients (one flat tensor per step) and applies the optimizer; rank 0 sends back the final
weights.

A rank that fails reports its traceback and exits; a rank that dies says nothing. Either way,
or when ``timeout_s`` passes, the parent ends the whole group and raises ``RankFailed`` with the
reason, so a broken rank makes the case an ``error``, never a hang; the next case starts a
fresh group. Ranks whose parent has gone exit by themselves.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import queue
import tempfile
import time
import traceback
from datetime import timedelta
from typing import Any

import numpy as np

from harness.conformance.cases import ModelCase

#: seconds a rank waits for a job before it checks that its parent still lives
_POLL_S = 1.0


@dataclasses.dataclass(frozen=True)
class Job:
    """What every rank needs for one training, picklable (case configs as plain dicts)."""

    case: ModelCase
    weights: list[np.ndarray]
    x: np.ndarray
    y: np.ndarray
    reduction: str
    crash_rank: int | None = None


class RankFailed(RuntimeError):
    """A gloo rank crashed or the group did not finish in time."""


def _picklable(case: ModelCase) -> ModelCase:
    """``case`` with its read-only configs (which cannot be pickled) as plain dicts."""
    return dataclasses.replace(
        case, layers=tuple((name, dict(cfg)) for name, cfg in case.layers),
        optimizer_config=dict(case.optimizer_config), loss_config=dict(case.loss_config))


# --- inside a rank -------------------------------------------------------------------------
def _rank_weights(rank: int, world: int, job: Job) -> list[np.ndarray]:
    """Train this rank's replica; its final weights (the same on every rank)."""
    import torch
    import torch.distributed as dist

    from harness.conformance.targets import parallel
    from harness.conformance.targets.reference import ReferenceTarget

    target = ReferenceTarget("torch")
    K = target.K
    model, optimizer, loss_fn = target.training_setup(job.case, job.weights)
    trainable = list(model.trainable_weights)
    objective = parallel.weighted_objective(model, loss_fn, trainable)
    for xs, ys, ws in parallel._steps(target, job.case, job.x, job.y, world, job.reduction):
        if rank == job.crash_rank:  # the failure path, exercised by the tests
            os._exit(3)
        shard = [K.convert_to_tensor(a[rank]) for a in (xs, ys, ws)]
        _, grads = K.value_and_grad(lambda v, s=shard: objective(v, *s),
                                    [v.value for v in trainable])
        if job.reduction != "none":
            flat = torch.cat([g.reshape(-1) for g in grads])
            dist.all_reduce(flat, op=dist.ReduceOp.SUM)
            grads = [part.reshape(g.shape) for part, g in
                     zip(torch.split(flat, [g.numel() for g in grads]), grads, strict=True)]
        optimizer.apply_gradients(zip(grads, trainable, strict=True))
    return [np.asarray(w, np.float64) for w in model.get_weights()]


def _next_job(inbox: Any, parent: int) -> Job | None:
    """The next job, or None when told to stop or when the parent process has gone."""
    while True:
        try:
            return inbox.get(timeout=_POLL_S)
        except queue.Empty:
            if os.getppid() != parent:
                return None


def _rank_main(rank: int, world: int, store: str, timeout_s: float, parent: int,
               inbox: Any, outbox: Any) -> None:
    """Entry point of one spawned rank: join the group, then train job after job."""
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)  # N ranks share the cores
    try:
        dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank,
                                world_size=world, timeout=timedelta(seconds=timeout_s))
        while (job := _next_job(inbox, parent)) is not None:
            weights = _rank_weights(rank, world, job)
            outbox.put(("done", rank, weights if rank == 0 else None))
        dist.destroy_process_group()
    except BaseException:  # noqa: BLE001 - any failure: report it, then leave the group
        outbox.put(("error", rank, traceback.format_exc()))
        outbox.close()
        outbox.join_thread()  # the report must leave before the process does
        os._exit(1)


# --- the parent's side ---------------------------------------------------------------------
class Group:
    """N spawned gloo ranks waiting for jobs."""

    def __init__(self, world: int, timeout_s: float):
        import torch.multiprocessing as tmp

        context = tmp.get_context("spawn")
        self.world = world
        self._folder = tempfile.TemporaryDirectory(prefix="harness-gloo-")
        self._outbox = context.Queue()
        self._inboxes = [context.Queue() for _ in range(world)]
        store = os.path.join(self._folder.name, "store")
        self._procs = [context.Process(
            target=_rank_main, name=f"harness-gloo-rank{rank}", daemon=True,
            args=(rank, world, store, timeout_s, os.getpid(), self._inboxes[rank],
                  self._outbox)) for rank in range(world)]
        for proc in self._procs:
            proc.start()

    def run(self, job: Job, timeout_s: float) -> list[np.ndarray]:
        """Train ``job`` on every rank; rank 0's final weights. RankFailed (the group is
        then closed) when a rank fails or dies, or ``timeout_s`` passes."""
        for inbox in self._inboxes:
            inbox.put(job)
        deadline = time.monotonic() + timeout_s
        done: dict[int, Any] = {}
        while len(done) < self.world:
            try:
                kind, rank, payload = self._outbox.get(timeout=0.1)
            except queue.Empty:
                self._check(deadline, timeout_s, done)
                continue
            if kind == "error":
                raise RankFailed(self._reasons({rank: payload}))
            done[rank] = payload
        return [np.asarray(w) for w in done[0]]

    def _reasons(self, reported: dict[int, str]) -> str:
        """Why the group failed: the ranks that died silently first (a peer's lost
        connection is their consequence), then the tracebacks' last lines."""
        for proc in self._procs:  # a rank that just died may not be reaped yet
            proc.join(timeout=0.5 if proc.is_alive() else 0)
        while True:
            try:
                kind, rank, payload = self._outbox.get(timeout=0.1)
            except queue.Empty:
                break
            if kind == "error":
                reported[rank] = payload
        died = [f"gloo rank {r} exited with code {p.exitcode}" for r, p in
                enumerate(self._procs) if p.exitcode not in (None, 0) and r not in reported]
        failed = [f"gloo rank {r} failed: "
                  f"{(text.strip().splitlines() or ['no traceback'])[-1]}"
                  for r, text in sorted(reported.items())]
        return "; ".join(died + failed) or "a gloo rank failed without a report"

    def _check(self, deadline: float, timeout_s: float, done: dict[int, Any]) -> None:
        """RankFailed when a rank has died or time is up."""
        if any(proc.exitcode is not None for proc in self._procs):
            raise RankFailed(self._reasons({}))
        if time.monotonic() > deadline:
            waiting = [r for r in range(self.world) if r not in done]
            raise RankFailed(f"gloo ranks {waiting} did not finish within {timeout_s:g} s")

    def close(self, broken: bool = False) -> None:
        """End every rank and remove the store folder; a ``broken`` group's ranks (maybe
        stuck in a collective) are killed at once, the others are asked to stop first."""
        if not broken:
            for proc, inbox in zip(self._procs, self._inboxes, strict=True):
                if proc.is_alive():
                    inbox.put(None)
        for proc in self._procs:
            proc.join(timeout=0 if broken else 5)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
        self._folder.cleanup()

    @property
    def alive(self) -> bool:
        return all(p.is_alive() for p in self._procs)


_groups: dict[int, Group] = {}


@atexit.register
def close_groups() -> None:
    """End every group this process started."""
    while _groups:
        _groups.popitem()[1].close()


def train(case: ModelCase, weights: list[np.ndarray], x: np.ndarray, y: np.ndarray,
          world: int, reduction: str = "weighted", timeout_s: float = 90.0,
          crash_rank: int | None = None) -> list[np.ndarray]:
    """Train ``case`` from ``weights`` over ``world`` gloo processes; rank 0's final weights.

    Reuses this process's group of ``world`` ranks (starting it on first use, within
    ``timeout_s``). ``crash_rank`` makes that rank die at its first step (to test the failure
    path). Raises RankFailed naming the rank and its error when a rank fails or time runs out;
    the group is then ended."""
    group = _groups.get(world)
    if group is None or not group.alive:
        if group is not None:
            group.close(broken=True)
        group = _groups[world] = Group(world, timeout_s)
    job = Job(_picklable(case), [np.asarray(w) for w in weights], np.asarray(x),
              np.asarray(y), reduction, crash_rank)
    try:
        return group.run(job, timeout_s)
    except BaseException:
        del _groups[world]
        group.close(broken=True)
        raise
