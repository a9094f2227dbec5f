"""Shared helpers of the benchmark scripts: peak memory, child processes, result lines.

Every stage whose memory we report runs in its own process, so its peak resident set is
its own: `run_child` waits with `os.wait4`, which returns the rusage of that one child
(`ru_maxrss`, the high-water mark of its resident set, in KiB on Linux), and a child can
also read its own `VmHWM` from /proc/self/status (`peak_rss_mib`). Children report their
figures on one `RESULT {json}` line of stdout (`emit_result` / `parse_result`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESULT_PREFIX = "RESULT "
REPO = Path(__file__).resolve().parents[1]


def _status_mib(field: str) -> float:
    """A memory field of /proc/self/status (VmHWM, VmRSS...) in MiB; NaN where /proc is absent."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def peak_rss_mib() -> float:
    """This process's resident-set high-water mark (VmHWM) in MiB."""
    return _status_mib("VmHWM")


def rss_mib() -> float:
    """This process's current resident set (VmRSS) in MiB."""
    return _status_mib("VmRSS")


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux `clear_refs` 5); False where not permitted."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def emit_result(result: dict[str, Any]) -> None:
    """Print the child's figures as the one line the parent parses."""
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def parse_result(stdout: str) -> dict[str, Any] | None:
    """The last `RESULT {json}` line of a child's stdout, or None."""
    lines = [ln for ln in stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
    return json.loads(lines[-1][len(RESULT_PREFIX) :]) if lines else None


@dataclass
class ChildRun:
    """What one child process did: exit status, output, wall seconds, peak RSS."""

    cmd: list[str]
    returncode: int
    stdout: str
    stderr: str
    wall_s: float
    peak_rss_mib: float  # ru_maxrss of the child (largest of it and its waited-for descendants)
    cpu_s: float
    timed_out: bool = False
    killed_for_memory: bool = False


def child_env(threads: int | None = None, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child: src/ and benchmarks/ importable, thread caps if given."""
    env = dict(os.environ)
    paths = [str(REPO / "src"), str(REPO / "benchmarks"), str(REPO)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    if threads is not None:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(threads)
    env.update(extra or {})
    return env


def _child_rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):
        pass
    return 0.0


def run_child(
    cmd: list[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    cwd: str | os.PathLike[str] | None = None,
    echo: bool = False,
    max_rss_mib: float | None = None,
) -> ChildRun:
    """Run `cmd` to completion (killed with its process group after `timeout` s).

    `max_rss_mib` kills the child when its resident set passes that bound (polled every
    50 ms), so a benchmark on a shared machine cannot take the memory others need.

    Output is collected through temporary files, not pipes, so a chatty child cannot block;
    `echo` copies its stdout to ours afterwards. A crash or OOM kill shows as a non-zero
    (or negative: killed by signal) return code, never as an exception here.
    """
    import tempfile

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=err,
            env=env or child_env(),
            cwd=cwd,
            start_new_session=True,
            text=True,
        )
        timed_out = killed_for_memory = False
        deadline = None if timeout is None else t0 + timeout
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            over = max_rss_mib is not None and _child_rss_mib(proc.pid) > max_rss_mib
            if over or (deadline is not None and time.perf_counter() > deadline):
                timed_out = not over
                killed_for_memory = over
                os.killpg(proc.pid, signal.SIGKILL)
                pid, status, ru = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if echo:
        sys.stdout.write(stdout)
        sys.stdout.flush()
    return ChildRun(
        cmd=list(cmd),
        returncode=proc.returncode,
        stdout=stdout,
        stderr=stderr,
        wall_s=wall,
        peak_rss_mib=ru.ru_maxrss / 1024.0,
        cpu_s=ru.ru_utime + ru.ru_stime,
        timed_out=timed_out,
        killed_for_memory=killed_for_memory,
    )


def load_note() -> str:
    """The 1/5/15-minute load average and core count, to print beside every timing."""
    try:
        one, five, fifteen = os.getloadavg()
        return f"load average {one:.1f}/{five:.1f}/{fifteen:.1f} on {os.cpu_count()} cores"
    except OSError:
        return f"{os.cpu_count()} cores"
