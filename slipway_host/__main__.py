"""Command line: `python -m slipway_host serve --app-dir DIR [--host H] [--port P] [--state-dir DIR]`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from slipway_host.config import HostConfigError, load_local_settings
from slipway_host.host import HostSetup
from slipway_host.serve import ServeOptions, run


class _UtcFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_UtcFormatter("[%(asctime)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    # The storage SDK logs every HTTP request at INFO; uvicorn repeats what we already print.
    for noisy in ("azure", "uvicorn", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m slipway_host", description="Local Azure Functions host")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve function_app.py over HTTP, timers and queues")
    serve.add_argument("--app-dir", type=Path, default=Path(), help="folder with function_app.py and host.json")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument(
        "--port", type=int, default=None, help="port (default: local.settings.json Host.LocalHttpPort or 7071; 0 = any)"
    )
    serve.add_argument(
        "--state-dir", type=Path, default=None, help="timer status folder (default APP_DIR/.slipway/host-state)"
    )
    serve.add_argument("--grace-seconds", type=float, default=30.0, help="wait for running invocations on shutdown")
    serve.add_argument(
        "--message-lease-seconds", type=int, default=60, help="queue message invisibility, renewed while running"
    )
    serve.add_argument(
        "--max-workers",
        type=int,
        default=None,
        help="threads for sync functions (default PYTHON_THREADPOOL_THREAD_COUNT or 32)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    configure_logging()
    app_dir: Path = args.app_dir.resolve()
    try:
        local = load_local_settings(app_dir, os.environ)
        port = args.port
        if port is None:
            port = int((local.get("Host") or {}).get("LocalHttpPort") or 7071)
        setup = HostSetup(
            app_dir=app_dir,
            state_dir=args.state_dir,
            message_lease=timedelta(seconds=args.message_lease_seconds),
            max_workers=args.max_workers,
        )
        return run(ServeOptions(setup=setup, host=args.host, port=port, grace_seconds=args.grace_seconds))
    except (HostConfigError, OSError) as error:
        logging.getLogger("slipway_host").error("Cannot start the host: %s", error)
        return 1
    except Exception:  # e.g. function_app.py fails to import: show the user's traceback
        logging.getLogger("slipway_host").exception("Cannot start the host")
        return 1


if __name__ == "__main__":
    sys.exit(main())
