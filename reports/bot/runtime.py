"""What keeps ``report bot`` running: build processes, the heartbeat a liveness probe reads, answered updates.

* :class:`Builds` runs each answer's build in a process of its own (forkserver, with the heavy modules imported
  once), at most two at a time; on SIGTERM they are ended at once (their process groups: the chart workers too).
* :class:`Heartbeat` touches ``REPORT_STATE_DIR/bot/heartbeat`` at start and after each getUpdates round; a file
  older than :data:`STALE_AFTER` seconds means polling has stopped.
* :class:`Claims` keeps one empty file per update answered, so two instances that share the state folder (or one
  restarted before Telegram saw its last offset) never answer an update twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from telegram.request import HTTPXRequest

from reports.bot.jobs import child_main
from reports.bot.records import Answer, Job
from reports.settings import Settings

log = logging.getLogger("reports.bot.app")

STALE_AFTER = 120.0
"""Seconds without a getUpdates round after which polling counts as stopped (the liveness probe's threshold)."""
BUILD_TIMEOUT = 600.0
"""A build still running after this long is ended, and its chat told so."""
PRELOAD = ["reports.bot.jobs", "reports.bot.warm"]
"""Imported (and the templates compiled) once in the fork server: every build starts with them ready."""
_GRACE = 3.0  # seconds a build process has to end after SIGTERM before SIGKILL


class Builds:
    """Build processes: :meth:`run` one job and get its :class:`Answer`; :meth:`end_all` on SIGTERM."""

    def __init__(self, settings: Settings, logs: dict[str, Any], limit: int = 2) -> None:
        self.settings, self.logs = settings, logs
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(PRELOAD)
        self._slots = asyncio.Semaphore(limit)
        self.running: dict[int, tuple[BaseProcess, Job]] = {}
        self.spared: set[int] = set()  # builds whose first part was sent: ended only with everything=True
        self.active = 0  # builds holding a slot (started or starting)

    async def warm(self) -> None:
        """Start the fork server now: it imports pandas and matplotlib once, while the bot starts polling."""
        from multiprocessing import forkserver

        await asyncio.to_thread(forkserver.ensure_running)

    async def run(self, job: Job, first_part: Callable[[Answer], Awaitable[None]] | None = None) -> Answer:
        """Build ``job`` in a new process, once one of the slots is free; ``first_part`` is awaited with each
        part the build sends before its last (the summary, while it draws the charts)."""
        if self._slots.locked():
            log.info("waiting for a free build slot: %d builds running", self.active)
        async with self._slots:
            self.active += 1
            try:
                return await self._run(job, first_part)
            finally:
                self.active -= 1

    async def _run(self, job: Job, first_part: Callable[[Answer], Awaitable[None]] | None) -> Answer:
        receiver, sender = self._ctx.Pipe(duplex=False)
        proc = self._ctx.Process(
            target=child_main, args=(sender, self.settings, job, self.logs), name=f"report-bot-{job.command}"
        )
        starting = asyncio.ensure_future(asyncio.to_thread(proc.start))
        try:
            await asyncio.shield(starting)
        except asyncio.CancelledError:
            # The bot stops while the fork server is still starting this build (it imports for a few seconds
            # after the bot starts): once started, the build is ended like the others, never left running.
            await starting
            sender.close()
            if proc.pid is not None:
                self.running[proc.pid] = (proc, job)
                _end(proc, signal.SIGTERM)
                log.debug("build process %d of /%s started as the bot stops: ended", proc.pid, job.command)
            raise
        sender.close()
        assert proc.pid is not None
        self.running[proc.pid] = (proc, job)
        log.debug("build process %d started for /%s", proc.pid, job.command)
        # Cancelled (the bot stops): the process stays in `running`, for end_all() and reap().
        deadline = time.monotonic() + BUILD_TIMEOUT
        try:
            while True:
                answer = await asyncio.wait_for(
                    asyncio.to_thread(_receive, receiver), max(0.0, deadline - time.monotonic())
                )
                if answer is None or not answer.more:
                    break
                self.spared.add(proc.pid)  # its summary is out: SIGTERM lets it finish (end_all spares it)
                if first_part is not None:
                    await first_part(answer)
        except TimeoutError:
            _end(proc, signal.SIGKILL)  # the thread still reading gets EOF and closes the pipe
            self.running.pop(proc.pid, None)
            return Answer(
                None, error=f"the build took longer than {BUILD_TIMEOUT / 60:g} minutes and was stopped: ask again"
            )
        # Not on a cancel or a timeout: a thread may still be blocked reading it (it closes it at EOF).
        receiver.close()
        await asyncio.to_thread(proc.join, _GRACE)
        if proc.is_alive():
            _end(proc, signal.SIGKILL)
        self.running.pop(proc.pid, None)
        self.spared.discard(proc.pid)
        if answer is None:
            return Answer(
                None, error=f"the build process ended without an answer (exit status {proc.exitcode}): ask again"
            )
        return answer

    def end_all(self, *, everything: bool = False) -> list[Job]:
        """SIGTERM to every build in progress (and the chart workers it forked) but those whose summary is out,
        which finish their answer (``everything``: those too); returns their jobs."""
        jobs = []
        for pid, (proc, job) in list(self.running.items()):
            if pid in self.spared and not everything:
                continue
            _end(proc, signal.SIGTERM)
            jobs.append(job)
        return jobs

    def reap(self) -> None:
        """Wait a moment for the builds ended by :meth:`end_all`, then SIGKILL what is left."""
        deadline = time.monotonic() + _GRACE
        for proc, job in list(self.running.values()):
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                log.warning(
                    "the build process %s of /%s did not end on SIGTERM within %g s: killed",
                    proc.pid,
                    job.command,
                    _GRACE,
                )
                _end(proc, signal.SIGKILL)
                proc.join(1.0)
            else:
                log.debug("build process %s of /%s ended (exit status %s)", proc.pid, job.command, proc.exitcode)


def _receive(conn: Connection) -> Answer | None:
    try:
        return conn.recv()
    except (EOFError, OSError):
        conn.close()
        return None  # the process ended (or was ended) before it answered


def _end(proc: BaseProcess, signum: int) -> None:
    """Signal the build's process group (it and its chart workers); the process alone if it has none yet."""
    pid = proc.pid
    if pid is None:
        return
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signum)
            return
    except (ProcessLookupError, PermissionError):
        pass
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


class Heartbeat:
    """``REPORT_STATE_DIR/bot/heartbeat``, touched at start and after every getUpdates round."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.last = time.monotonic()
        self._warned = 0.0

    def beat(self) -> None:
        """Touch the file (its modification time is what a liveness probe reads)."""
        self.last = time.monotonic()
        try:
            self.path.touch()
        except OSError as exc:
            if self.last - self._warned >= 60 or not self._warned:
                self._warned = self.last
                log.warning("cannot touch the heartbeat file %s (%s): a liveness probe will fail", self.path, exc)

    def age(self) -> float:
        """Seconds since the last round ended."""
        return time.monotonic() - self.last


class PollRequest(HTTPXRequest):
    """The request object of getUpdates: after each round (an answer, an error, a timeout) the heartbeat beats."""

    def __init__(self, heartbeat: Heartbeat, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._heartbeat = heartbeat

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        try:
            return await super().do_request(*args, **kwargs)
        finally:
            self._heartbeat.beat()


class Claims:
    """One empty file per update answered, in ``folder`` (per bot): the first instance to create it answers."""

    KEEP = 86_400.0  # update ids are sequential while updates keep coming; a day's worth is plenty

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._pruned = 0.0
        self._warned = False

    def claim(self, update_id: int) -> bool:
        """True when this instance is the first to answer ``update_id`` (also when claims cannot be written)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            os.close(os.open(self.folder / str(update_id), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            return False
        except OSError as exc:
            if not self._warned:
                self._warned = True
                log.warning("cannot record answered updates in %s (%s): answering anyway", self.folder, exc)
            return True
        self._prune()
        return True

    def _prune(self) -> None:
        now = time.time()
        if now - self._pruned < 3600:
            return
        self._pruned = now
        for path in self.folder.iterdir():
            try:
                if now - path.stat().st_mtime > self.KEEP:
                    path.unlink()
            except OSError:
                continue
