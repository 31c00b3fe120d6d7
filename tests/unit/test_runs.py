from datetime import UTC, datetime, timedelta

import pytest

from core.errors import InvalidTransition
from core.runs import (
    RunStatus,
    RunType,
    can_transition,
    duration_seconds,
    new_run,
    request_cancel,
    transition,
)

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def queued():
    return new_run(
        run_id="ca1", number=1, run_type=RunType.QUICK_BUILD, request={}, now=T0, platform="linux/amd64", timeout=60
    )


def test_a_run_goes_from_queued_through_started_and_running_to_succeeded() -> None:
    run = transition(queued(), RunStatus.STARTED, now=T0 + timedelta(seconds=1), worker="w1")
    assert (run.status, run.start_time, run.worker, run.heartbeat_time) == (
        RunStatus.STARTED,
        T0 + timedelta(seconds=1),
        "w1",
        T0 + timedelta(seconds=1),
    )
    run = transition(run, RunStatus.RUNNING, now=T0 + timedelta(seconds=2))
    run = transition(run, RunStatus.SUCCEEDED, now=T0 + timedelta(seconds=5))
    assert run.finish_time == T0 + timedelta(seconds=5)
    assert duration_seconds(run) == 4.0


@pytest.mark.parametrize("final", [s for s in RunStatus if s.is_terminal])
def test_finished_runs_never_change_status_again(final: RunStatus) -> None:
    run = transition(transition(queued(), RunStatus.STARTED, now=T0), RunStatus.RUNNING, now=T0)
    run = transition(run, final, now=T0)
    for target in RunStatus:
        assert not can_transition(run.status, target)
    with pytest.raises(InvalidTransition, match="cannot become"):
        transition(run, RunStatus.RUNNING, now=T0)


def test_a_queued_run_cannot_skip_to_running_or_succeeded() -> None:
    assert not can_transition(RunStatus.QUEUED, RunStatus.RUNNING)
    assert not can_transition(RunStatus.QUEUED, RunStatus.SUCCEEDED)
    assert not can_transition(RunStatus.STARTED, RunStatus.SUCCEEDED)


def test_canceling_a_queued_run_ends_it_at_once_with_start_and_finish_times() -> None:
    run = request_cancel(queued(), now=T0 + timedelta(seconds=3))
    assert run.status is RunStatus.CANCELED
    assert run.start_time == run.finish_time == T0 + timedelta(seconds=3)


def test_canceling_an_active_run_flags_it_for_its_worker() -> None:
    run = request_cancel(transition(queued(), RunStatus.STARTED, now=T0), now=T0)
    assert run.status is RunStatus.STARTED
    assert run.cancel_requested


def test_canceling_a_finished_run_is_refused_with_its_status() -> None:
    run = request_cancel(queued(), now=T0)
    with pytest.raises(InvalidTransition, match="already finished \\(Canceled\\)"):
        request_cancel(run, now=T0)


def test_log_completion_values_are_the_ones_the_az_cli_checks() -> None:
    assert [RunStatus(s).log_completion for s in ("Succeeded", "Failed", "Canceled", "Error", "Timeout")] == [
        "succeeded",
        "failed",
        "canceled",
        "internalerror",
        "timedout",
    ]


def test_statuses_parse_case_insensitively_and_unknown_ones_list_the_choices() -> None:
    assert RunStatus.parse("running") is RunStatus.RUNNING
    with pytest.raises(ValueError, match="Queued, Started"):
        RunStatus.parse("done")
