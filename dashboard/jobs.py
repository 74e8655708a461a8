"""Background training jobs: one thread per run, owned by a process-wide registry, drawn live by the pages.

A page starts a job and keeps only its id (in st.session_state), so the job survives page switches and
reruns; the registry itself is held by st.cache_resource (see dashboard.state). Each job has its own
run folder and its own lock-guarded record buffer, so two browser tabs training at once never share
anything. Nothing here imports streamlit: the bench drives the same runner from a plain script.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.errors import UserError
from core.loop import EpochMetrics, Finished, Snapshot, StepMetrics

log = logging.getLogger(__name__)

RUNNING, STOPPING = "running", "stopping"
FINISHED, STOPPED, FAILED = "finished", "stopped", "failed"
DONE = (FINISHED, STOPPED, FAILED)

MAX_RUNNING = int(os.environ.get("DIGITS_MAX_JOBS") or 2)  # training runs and exports at once, all visitors
# together: each takes a core or more, and anyone who can open the dashboard can start them

# (config, data, run_dir) -> record iterator: core.numpy_train.train, core.cnn_train.train, ...
Trainer = Callable[[object, object, Path | None], Iterator[object]]
# Called with (run_dir, config, last snapshot, epoch history) when a run is stopped early.
SavePartial = Callable[[Path, object, Snapshot | None, list[dict]], None]


@dataclass(frozen=True)
class JobView:
    """A consistent copy of a job's state, taken under its lock, safe to draw from any thread."""

    id: str
    kind: str
    config: object
    run_dir: Path | None
    status: str
    message: str
    progress: tuple[str, float] | None
    steps: list[StepMetrics]
    epochs: list[EpochMetrics]
    evals: list[object]
    snapshot: Snapshot | None
    metrics: dict | None
    started: float
    version: int

    @property
    def running(self) -> bool:
        return self.status not in DONE


@dataclass
class Job:
    """One training run in a background thread; every field below `_lock` is guarded by it."""

    id: str
    kind: str
    config: object
    run_dir: Path | None
    started: float = field(default_factory=time.time)
    stop_event: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    status: str = RUNNING
    message: str = ""
    progress: tuple[str, float] | None = None
    steps: list = field(default_factory=list)
    epochs: list = field(default_factory=list)
    evals: list = field(default_factory=list)
    snapshot: Snapshot | None = None
    metrics: dict | None = None
    version: int = 0

    def add(self, rec: object) -> None:
        with self._lock:
            if isinstance(rec, StepMetrics):
                self.steps.append(rec)
            elif isinstance(rec, EpochMetrics):
                self.epochs.append(rec)
            elif isinstance(rec, Snapshot):
                self.snapshot = rec
            elif isinstance(rec, Finished):
                self.metrics, self.status = rec.metrics, FINISHED
            else:  # e.g. core.loop.EvalMetrics (mid-epoch test accuracy)
                self.evals.append(rec)
            self.progress = None
            self.version += 1

    def set(self, **changes) -> None:
        with self._lock:
            for k, v in changes.items():
                setattr(self, k, v)
            self.version += 1

    def report(self, what: str, frac: float) -> None:
        """A core Progress callback (e.g. for the MNIST fetch)."""
        self.set(progress=(what, float(frac)))

    def view(self) -> JobView:
        with self._lock:
            return JobView(self.id, self.kind, self.config, self.run_dir, self.status, self.message, self.progress,
                           list(self.steps), list(self.epochs), list(self.evals), self.snapshot, self.metrics,
                           self.started, self.version)

    def stop(self) -> None:
        with self._lock:
            if self.status == RUNNING:
                self.status = STOPPING
                self.version += 1
        self.stop_event.set()


def _load_data(report: Callable[[str, float], None]):
    from core.data import load_mnist

    return load_mnist(fetch=True, progress=report)


class JobRegistry:
    """Every job of this server process, by id. Thread-safe; finished jobs are kept for reloading."""

    def __init__(self, load_data: Callable[[Callable[[str, float], None]], object] = _load_data, keep: int = 32,
                 max_running: int | None = None):
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._load_data = load_data
        self._keep = keep
        self._max_running = MAX_RUNNING if max_running is None else max_running
        self._forgotten = 0

    def start(self, kind: str, config: object, trainer: Trainer, run_dir: Path | None,
              save_partial: SavePartial | None = None) -> str:
        """Start `trainer(config, data, run_dir)` in a daemon thread; return the job's id."""
        job = Job(id=f"{kind}-{secrets.token_hex(4)}", kind=kind, config=config, run_dir=run_dir)
        return self._launch(job, "train", lambda: self._run(job, trainer, save_partial))

    def generation(self) -> int:
        """Changes whenever a job ends (so cached run listings can be refreshed)."""
        with self._lock:
            return sum(1 for j in self._jobs.values() if j.status in DONE) + self._forgotten

    def get(self, job_id: str | None) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id) if job_id else None

    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def running(self) -> list[Job]:
        return [j for j in self.jobs() if j.view().running]

    def start_task(self, kind: str, fn: Callable[[Callable[[str, float], None]], dict], run_dir: Path | None = None,
                   config: object = None) -> str:
        """Run `fn(report)` (long work that is not training, e.g. an ONNX export) in a daemon thread; its
        returned dict becomes the job's metrics. `report(what, fraction)` drives the progress bar."""
        job = Job(id=f"{kind}-{secrets.token_hex(4)}", kind=kind, config=config, run_dir=run_dir)

        def run() -> None:
            try:
                job.set(metrics=fn(job.report), status=FINISHED, progress=None)
            except UserError as e:
                job.set(status=FAILED, message=str(e), progress=None)
            except Exception as e:
                log.exception("task %s crashed", job.id)
                job.set(status=FAILED, progress=None,
                        message=f"stopped by an unexpected error: {type(e).__name__}: {e}")

        return self._launch(job, "task", run)

    def _launch(self, job: Job, what: str, target: Callable[[], None]) -> str:
        """Register `job` and run `target` in a daemon thread named after it; return the job's id. UserError (and
        the job's empty run folder removed) when MAX_RUNNING jobs already run on this server."""
        job.thread = threading.Thread(target=target, name=f"{what}-{job.id}", daemon=True)
        with self._lock:
            busy = sum(1 for j in self._jobs.values() if j.status == RUNNING)
            if busy >= self._max_running:
                if job.run_dir is not None:
                    with contextlib.suppress(OSError):
                        job.run_dir.rmdir()  # made for this job and still empty; a folder with files stays
                raise UserError(f"{busy} training runs or exports are already running on this server (the limit is "
                                f"{self._max_running}, DIGITS_MAX_JOBS): wait for one to finish, or stop one, then "
                                "start again")
            self._jobs[job.id] = job
            self._forget_old()
        job.thread.start()
        return job.id

    def _forget_old(self) -> None:
        done = [j for j in self._jobs.values() if j.status in DONE]
        for j in sorted(done, key=lambda j: j.started)[: max(0, len(done) - self._keep)]:
            del self._jobs[j.id]
            self._forgotten += 1

    def _run(self, job: Job, trainer: Trainer, save_partial: SavePartial | None) -> None:
        gen = None
        try:
            job.report("loading MNIST", 0.0)
            data = self._load_data(job.report)
            gen = trainer(job.config, data, job.run_dir)
            for rec in gen:
                job.add(rec)
                if job.stop_event.is_set():
                    break
            if job.stop_event.is_set() and job.view().status != FINISHED:
                gen.close()
                v = job.view()
                history = [asdict(e) for e in v.epochs]
                if save_partial and job.run_dir:
                    save_partial(job.run_dir, job.config, v.snapshot, history)
                job.set(status=STOPPED, message=f"stopped at step {v.snapshot.step if v.snapshot else 0}")
            elif job.view().status != FINISHED:
                job.set(status=FINISHED)
        except UserError as e:
            job.set(status=FAILED, message=str(e), progress=None)
        except Exception as e:  # a bug, not a user problem: keep the page alive and say what happened
            log.exception("training job %s crashed", job.id)
            job.set(status=FAILED, message=f"training stopped by an unexpected error: {type(e).__name__}: {e}",
                    progress=None)
        finally:
            if gen is not None:
                gen.close()

    def wait(self, job_id: str, timeout: float = 60.0) -> JobView:
        """Block until the job is done (tests, benchmarks)."""
        job = self.get(job_id)
        if job is None:
            raise KeyError(job_id)
        if job.thread is not None:
            job.thread.join(timeout)
        return job.view()
