"""A worker that dies mid-run leaves no run stuck: the reaper ends it and cleans up."""

from __future__ import annotations

import signal
import tarfile
from io import BytesIO
from pathlib import Path

import httpx
import pytest

from slipway_host.stack import azurite_connection_string, free_port, service_env, start_azurite, start_host
from tests.integration.conftest import Stack, run_log, upload_archive, wait_for, wait_for_run

pytestmark = pytest.mark.integration


def test_a_run_whose_host_is_killed_is_ended_by_the_reaper_of_another_host(
    stack: Stack, base_image: str, engine, tmp_path: Path
) -> None:
    # A private storage account, so only the doomed host can pick up the run.
    blob, queue, table = free_port(), free_port(), free_port()
    azurite = start_azurite(None, blob, queue, table)
    env = {
        **service_env(stack.api_key, azurite_connection_string(blob, queue, table), stack.registry),
        "SLIPWAY_STACK_ID": stack.host_env["SLIPWAY_STACK_ID"],
        "SLIPWAY_HEARTBEAT_SECONDS": "0.5",
        "SLIPWAY_STALE_AFTER_SECONDS": "4",
        "SLIPWAY_REAPER_SCHEDULE": "*/2 * * * * *",
    }
    doomed_port = free_port()
    doomed = start_host(doomed_port, env, log=tmp_path / "doomed.log")
    successor = None
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{doomed_port}/api", headers={"x-api-key": stack.api_key}, timeout=60
        ) as api:
            buffer = BytesIO()
            with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
                text = f"FROM {base_image}\nRUN echo doomed-build && sleep 300\n".encode()
                info = tarfile.TarInfo("Dockerfile")
                info.size = len(text)
                tar.addfile(info, BytesIO(text))
            source = upload_archive(api, buffer.getvalue())
            run_id = api.post(
                "/runs", json={"type": "DockerBuildRequest", "sourceLocation": source, "isPushEnabled": False}
            ).json()["runId"]
            wait_for(lambda: "doomed-build" in run_log(api, run_id), timeout=60, what="the build to start")

        doomed.process.send_signal(signal.SIGKILL)
        doomed.process.wait()
        successor_port = free_port()
        successor = start_host(successor_port, env, log=tmp_path / "successor.log")
        with httpx.Client(
            base_url=f"http://127.0.0.1:{successor_port}/api", headers={"x-api-key": stack.api_key}, timeout=60
        ) as api:
            run = wait_for_run(api, run_id, timeout=60)
            assert run["status"] == "Error"
            assert "stopped responding" in run["runErrorMessage"]
            # The status is written before the log is marked complete; wait for the log too.
            log = wait_for(
                lambda: (chunk := api.get(f"/runs/{run_id}/log", params={"offset": 0}).json())["complete"] and chunk,
                timeout=30,
                what="the reaped run's log to be complete",
            )
            assert log["complete"] == "internalerror"
            assert "stopped responding" in log["content"]
        # The engine dropped the build when the dead host's connection closed.
        wait_for(
            lambda: not [c for c in engine.containers() if "doomed-build" in c.get("Command", "")],
            timeout=30,
            what="the dead run's build container to go away",
        )
    finally:
        if successor is not None:
            successor.stop()
        doomed.stop()
        azurite.stop()
