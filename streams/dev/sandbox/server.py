"""Running the sandbox: in-process for tests (SandboxServer) or in the foreground (run_sandbox).

    async with SandboxServer() as sandbox:            # 127.0.0.1, a free port
        url = f"{sandbox.url}/v25.0/1000000000000001/events"
        sandbox.state.faults.config = FaultConfig(throttle=1.0)   # or POST /_sandbox/faults

The clock (Unix seconds, a callable) is injectable for the 7-day rule, receipts and
deduplication. Without `datasets`, DEFAULT_DATASETS are served (see streams.dev.sandbox.datasets).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType

from aiohttp import web

from streams.dev.sandbox.app import SandboxState, create_app
from streams.dev.sandbox.datasets import DEFAULT_DATASETS, Dataset, load_datasets
from streams.dev.sandbox.faults import FaultConfig, FaultInjector
from streams.dev.sandbox.receipts import DEFAULT_MAX_EVENTS, ReceiptStore
from streams.dev.sandbox.receive_times import ReceiveTimes

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "SandboxServer", "run_sandbox", "serve"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787

log = logging.getLogger(__name__)


class SandboxServer:
    """The sandbox on host:port (port 0 = a free port), started and stopped in-process."""

    def __init__(
        self,
        *,
        host: str = DEFAULT_HOST,
        port: int = 0,
        datasets: Mapping[str, Dataset] | None = None,
        faults: FaultConfig | None = None,
        clock: Callable[[], float] = time.time,
        jsonl_path: Path | None = None,
        max_events: int | None = DEFAULT_MAX_EVENTS,
        max_receive_times: int = DEFAULT_MAX_EVENTS,
        seed: int | None = None,
        shutdown_timeout: float = 2.0,
        admin: bool = True,
    ) -> None:
        self._host = host
        self._admin = admin
        self._port = port
        self._shutdown_timeout = shutdown_timeout
        self.state = SandboxState(
            datasets=dict(DEFAULT_DATASETS if datasets is None else datasets),
            faults=FaultInjector(faults, seed),
            receipts=ReceiptStore(clock, jsonl_path=jsonl_path, max_events=max_events),
            clock=clock,
            times=ReceiveTimes(max_receive_times),
        )
        self._runner: web.AppRunner | None = None
        self._bound_port: int | None = None

    @property
    def port(self) -> int:
        if self._bound_port is None:
            raise RuntimeError("the sandbox is not started")
        return self._bound_port

    @property
    def url(self) -> str:
        """Base URL, e.g. "http://127.0.0.1:8787" (no trailing slash)."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("the sandbox is already started")
        self.state.closing.clear()  # a restarted server pauses again
        runner = web.AppRunner(
            create_app(self.state, admin=self._admin),
            access_log=None,
            handler_cancellation=True,
            shutdown_timeout=self._shutdown_timeout,
        )
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        server = site._server  # the listening asyncio.Server; aiohttp has no public accessor
        assert isinstance(server, asyncio.Server)
        self._bound_port = int(server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> SandboxServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


async def serve(
    server: SandboxServer, stop: asyncio.Event, announce: Callable[[str], None] | None = None
) -> None:
    """Run `server` until `stop` is set; `announce` gets the ready line (address, datasets)."""
    async with server:
        ids = ", ".join(server.state.datasets)
        log.info("sandbox listening on %s (datasets: %s)", server.url, ids)
        if announce is not None:
            announce(f"sandbox listening on {server.url} (datasets: {ids}); Ctrl-C stops it")
        await stop.wait()
    log.info("sandbox stopped")


def _print_line(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def run_sandbox(
    *,
    port: int = DEFAULT_PORT,
    host: str = DEFAULT_HOST,
    datasets_file: Path | None = None,
    faults: FaultConfig | None = None,
    jsonl_path: Path | None = None,
    max_events: int | None = DEFAULT_MAX_EVENTS,
    max_receive_times: int = DEFAULT_MAX_EVENTS,
    seed: int | None = None,
    admin: bool = False,
) -> None:
    """Serve in the foreground until SIGINT/SIGTERM (the `capi-streams sandbox` command);
    `admin` turns on the `/_sandbox/...` admin endpoints."""
    datasets = load_datasets(datasets_file)
    server = SandboxServer(
        host=host,
        port=port,
        datasets=datasets,
        faults=faults,
        jsonl_path=jsonl_path,
        max_events=max_events,
        max_receive_times=max_receive_times,
        seed=seed,
        admin=admin,
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await serve(server, stop, _print_line)

    asyncio.run(main())
