"""Time code in a child process with time and memory limits.

Why a child: timing code means running it, and code can loop forever, allocate without end
or crash the interpreter. The child (`python -I`, an empty temporary working directory, a
minimal environment, stdout redirected away from the result channel) sets
`resource.setrlimit` limits on its address space and CPU time before running anything, and
cuts each job off with an interval timer; the parent also kills it when a job overruns its
wall-clock deadline and starts a fresh child for the remaining jobs. This bounds the damage
of a bad program; it is not a security boundary against hostile code (the child can still
touch the file system and the network).

Two entry points: `time_programs` times generated programs (`programs.Program`, code this
package wrote), and `measure_user_function` times a function of the user's, which it refuses
unless the caller passes `allowed=True` (the user's `perf.measure` setting).

Runtimes are CPU seconds of the child's thread (`time.thread_time`), not wall-clock: on a
shared machine the time slices taken by other jobs would otherwise dominate. Each is the
minimum over repeats of the mean of a batch of calls sized to last a few milliseconds, with
the garbage collector off (as `timeit` does).
"""

from __future__ import annotations

import ast
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass

from selector.perf.programs import Program, make_inputs_source

_CHILD = r"""
import gc, json, os, resource, signal, sys, time, inspect
cfg = json.loads(sys.stdin.readline())
mem = cfg["memory_bytes"]
resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
cpu = cfg["cpu_seconds"]
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
out = os.fdopen(os.dup(1), "w")
null = os.open(os.devnull, os.O_WRONLY)
os.dup2(null, 1)
os.dup2(null, 2)
sys.stdout = open(os.devnull, "w")
sys.stderr = sys.stdout

_clock = time.thread_time  # CPU time: time slices lost to other jobs do not count

class _Timeout(BaseException):
    pass

def _alarm(signum, frame):
    raise _Timeout()

signal.signal(signal.SIGALRM, _alarm)
signal.signal(signal.SIGPROF, _alarm)
out.write(json.dumps({"ready": True}) + "\n")
out.flush()
for line in sys.stdin:
    job = json.loads(line)
    res = {"id": job["id"]}
    try:
        # definitions and imports: a generous wall-clock limit (imports are slow under load)
        signal.setitimer(signal.ITIMER_REAL, job["setup_timeout"])
        ns = {"__name__": "__tailor_job__"}
        exec(compile(job["setup"], "<inputs>", "exec"), ns)
        exec(compile(job["source"], "<job>", "exec"), ns)
        fn = ns[job["entry"]]
        inputs = ns.get("INPUTS", {})
        params = inspect.signature(fn).parameters
        kwargs = {k: inputs[k] for k in params if k in inputs}
        signal.setitimer(signal.ITIMER_REAL, 0)
        # the calls: a CPU-time limit, so that other jobs on the machine do not cut them off
        signal.setitimer(signal.ITIMER_PROF, job["timeout"])
        gc.collect()
        gc.disable()
        t0 = _clock()
        fn(**kwargs)
        best = _clock() - t0
        number = max(1, int(job["target"] / max(best, 1e-7)))
        deadline = _clock() + job["budget"]
        for _ in range(job["repeats"]):
            if _clock() > deadline:
                break
            t0 = _clock()
            for _ in range(number):
                fn(**kwargs)
            best = min(best, (_clock() - t0) / number)
        signal.setitimer(signal.ITIMER_PROF, 0)
        res.update(status="ok", seconds=best)
    except _Timeout:
        res.update(status="timeout")
    except MemoryError:
        res.update(status="memory")
    except BaseException as exc:
        res.update(status="error", error=f"{type(exc).__name__}: {exc}"[:200])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.setitimer(signal.ITIMER_PROF, 0)
        gc.enable()
        ns = None
    out.write(json.dumps(res) + "\n")
    out.flush()
"""


@dataclass(frozen=True)
class Limits:
    """Per job: CPU seconds for the calls (`seconds`), wall-clock seconds for defining the
    code and building inputs (`setup_seconds`), and a wall-clock backstop of
    `setup_seconds + seconds * wall_factor` for code stuck outside Python (in C, asleep).
    Per child: an address-space cap and a CPU-time cap."""

    seconds: float = 2.0
    setup_seconds: float = 30.0
    wall_factor: float = 4.0
    memory_mb: int = 1024
    cpu_seconds: int = 600
    repeats: int = 7
    target_seconds: float = 0.005  # each timed batch of calls lasts about this long


@dataclass
class Timing:
    """One job's outcome: status is "ok", "timeout", "memory", "killed" or "error"."""

    status: str
    seconds: float | None = None
    error: str | None = None


@dataclass
class _Job:
    source: str
    setup: str
    entry: str = "f"


class NotAllowedError(PermissionError):
    """Raised when asked to run the user's code without the user's permission."""


def _child_env(home: str) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home,
           "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    return env


def _start(limits: Limits, workdir: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-I", "-c", _CHILD], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            cwd=workdir, env=_child_env(workdir), start_new_session=True)
    assert proc.stdin is not None
    proc.stdin.write(json.dumps({"memory_bytes": limits.memory_mb * 2**20,
                                 "cpu_seconds": limits.cpu_seconds}) + "\n")
    proc.stdin.flush()
    return proc


def _read_line(proc: subprocess.Popen[str], deadline: float) -> str | None:
    """The child's next line; None past the deadline; "" when the child died."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    remaining = deadline - time.monotonic()
    while remaining > 0:
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            line = proc.stdout.readline()
            return line
        remaining = deadline - time.monotonic()
    return None


def _kill(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def _run_jobs(jobs: Sequence[_Job], limits: Limits) -> list[Timing]:
    """Run jobs in order in children; a child that dies or overruns is replaced."""
    results: list[Timing] = []
    with tempfile.TemporaryDirectory(prefix="tailor-sandbox-") as workdir:
        proc: subprocess.Popen[str] | None = None
        try:
            for i, job in enumerate(jobs):
                if proc is None:
                    proc = _start(limits, workdir)
                    if not _read_line(proc, time.monotonic() + 30):
                        _kill(proc)
                        proc = None
                        results.append(Timing("killed", error="the child did not start"))
                        continue
                assert proc.stdin is not None
                budget = limits.seconds * 0.8
                msg = {"id": i, "source": job.source, "setup": job.setup, "entry": job.entry,
                       "timeout": limits.seconds, "setup_timeout": limits.setup_seconds,
                       "repeats": limits.repeats,
                       "target": limits.target_seconds, "budget": budget}
                try:
                    proc.stdin.write(json.dumps(msg) + "\n")
                    proc.stdin.flush()
                except BrokenPipeError:
                    line: str | None = ""
                else:
                    wall = limits.setup_seconds + limits.seconds * limits.wall_factor
                    line = _read_line(proc, time.monotonic() + wall)
                if not line:  # died ("") or overran its deadline, stuck in C code (None)
                    _kill(proc)
                    proc = None
                    results.append(Timing("timeout" if line is None else "killed"))
                    continue
                data = json.loads(line)
                results.append(Timing(data["status"], data.get("seconds"), data.get("error")))
        finally:
            if proc is not None:
                assert proc.stdin is not None
                proc.stdin.close()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    _kill(proc)
    return results


def time_programs(programs: Sequence[Program], limits: Limits | None = None,
                  input_seed: int = 0) -> list[Timing]:
    """Seconds per call of each generated program at its own input size."""
    jobs = [_Job(p.source(), make_inputs_source(p.size, input_seed)) for p in programs]
    return _run_jobs(jobs, limits or Limits())


def time_sources(sources: Sequence[str], setups: Sequence[str], *, entry: str = "f",
                 allowed: bool, limits: Limits | None = None) -> list[Timing]:
    """Time arbitrary code (benchmarks, `perf.measure`): refused unless `allowed`."""
    if not allowed:
        raise NotAllowedError("timing this code needs the user's permission (perf.measure)")
    jobs = [_Job(src, setup, entry) for src, setup in zip(sources, setups, strict=True)]
    return _run_jobs(jobs, limits or Limits())


def sample_inputs_source(fn: ast.FunctionDef | ast.AsyncFunctionDef, size: int,
                         seed: int = 0) -> str:
    """Source building `INPUTS` for a function's parameters from their annotations
    (list/set/dict/str/int/float), lists of ints otherwise."""
    lines = ["import random as _r", f"_g = _r.Random({seed})", f"_n = {size}", "INPUTS = {}"]
    for arg in [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]:
        ann = ast.unparse(arg.annotation) if arg.annotation is not None else ""
        base = ann.split("[", 1)[0].split(".")[-1].lower()
        if base in ("str",):
            value = "''.join(_g.choice('abc 0123456789') for _ in range(_n))"
        elif base in ("int",):
            value = "_n"
        elif base in ("float",):
            value = "float(_n)"
        elif base in ("set", "frozenset", "abstractset"):
            value = "set(_g.randrange(4 * _n) for _ in range(_n))"
        elif base in ("dict", "mapping"):
            value = "{_g.randrange(4 * _n): _i for _i in range(_n)}"
        elif "str" in ann:
            value = "[''.join(_g.choice('abcdef') for _ in range(5)) for _ in range(_n)]"
        else:
            value = "[_g.randrange(4 * _n) for _ in range(_n)]"
        lines.append(f"INPUTS[{arg.arg!r}] = {value}")
    return "\n".join(lines) + "\n"


def measure_user_function(source: str, name: str, *, allowed: bool, size: int = 48,
                          limits: Limits | None = None) -> Timing:
    """Time the user's top-level function `name` in `source` with generated sample inputs.

    Refused (NotAllowedError, nothing runs) unless `allowed`: the user's `perf.measure`."""
    if not allowed:
        raise NotAllowedError("measuring the user's functions is off (perf.measure)")
    tree = ast.parse(source)
    fn = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name),
              None)
    if fn is None:
        return Timing("error", error=f"no top-level function {name!r}")
    setup = sample_inputs_source(fn, size)
    return time_sources([source], [setup], entry=name, allowed=True, limits=limits)[0]

