from datetime import timedelta
from typing import Any

import pytest

from slipway_host.config import (
    HostConfigError,
    QueueOptions,
    apply_host_overrides,
    parse_timespan,
    read_host_options,
    resolve_setting_expressions,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("00:00:02", timedelta(seconds=2)),
        ("00:00:00.500", timedelta(milliseconds=500)),
        ("00:00:00.1234567", timedelta(microseconds=123456)),
        ("00:05", timedelta(minutes=5)),
        ("01:02:03", timedelta(hours=1, minutes=2, seconds=3)),
        ("1.00:00:00", timedelta(days=1)),
        ("2", timedelta(days=2)),
        ("-00:00:10", timedelta(seconds=-10)),
        (" 00:01:00 ", timedelta(minutes=1)),
    ],
)
def test_timespans_parse_like_dotnet(text: str, expected: timedelta) -> None:
    assert parse_timespan(text) == expected


@pytest.mark.parametrize("text", ["24:00:00", "00:60:00", "00:00:60", "1 minute", "", "1.5", "1:2:3:4:5"])
def test_invalid_timespans_are_rejected_with_the_expected_format(text: str) -> None:
    with pytest.raises(HostConfigError, match="maxPollingInterval"):
        parse_timespan(text, name="maxPollingInterval")


def test_a_number_is_not_a_timespan() -> None:
    with pytest.raises(HostConfigError, match="must be a TimeSpan string"):
        parse_timespan(30, name="visibilityTimeout")  # type: ignore[arg-type]


def test_host_json_defaults_match_the_functions_host_for_local_runs() -> None:
    options = read_host_options({"version": "2.0"})

    assert options.route_prefix == "api"
    assert options.queues == QueueOptions(
        batch_size=16,
        new_batch_threshold=8,
        max_polling_interval=timedelta(seconds=2),
        visibility_timeout=timedelta(0),
        max_dequeue_count=5,
        message_encoding="base64",
    )


def test_queue_settings_are_read_from_host_json() -> None:
    document = {
        "extensions": {
            "queues": {
                "batchSize": 4,
                "maxPollingInterval": "00:00:00.250",
                "visibilityTimeout": "00:00:30",
                "maxDequeueCount": 2,
                "messageEncoding": "None",
            },
            "http": {"routePrefix": "/v1/"},
        }
    }

    options = read_host_options(document)

    assert options.route_prefix == "v1"
    assert options.queues.batch_size == 4
    assert options.queues.new_batch_threshold == 2  # half the batch size when not set
    assert options.queues.max_polling_interval == timedelta(milliseconds=250)
    assert options.queues.visibility_timeout == timedelta(seconds=30)
    assert options.queues.max_dequeue_count == 2
    assert options.queues.message_encoding == "none"


def test_an_empty_route_prefix_means_no_prefix() -> None:
    assert read_host_options({"extensions": {"http": {"routePrefix": ""}}}).route_prefix == ""


def test_host_json_keys_match_case_insensitively() -> None:
    options = read_host_options({"Extensions": {"Queues": {"BatchSize": 3}}})

    assert options.queues.batch_size == 3


@pytest.mark.parametrize(
    ("queues", "message"),
    [
        ({"batchSize": 33}, "batchSize is 33; it must be between 1 and 32"),
        ({"batchSize": 0}, "batchSize is 0"),
        ({"batchSize": "many"}, "batchSize must be a whole number"),
        ({"maxDequeueCount": 0}, "maxDequeueCount is 0"),
        ({"maxPollingInterval": "00:00:00.050"}, "maxPollingInterval must be at least 00:00:00.100"),
        ({"visibilityTimeout": "-00:00:01"}, "visibilityTimeout must not be negative"),
        ({"messageEncoding": "utf8"}, "messageEncoding is 'utf8'; use 'base64' or 'none'"),
        ({"newBatchThreshold": -1}, "newBatchThreshold is -1"),
    ],
)
def test_invalid_queue_settings_say_what_is_allowed(queues: dict[str, object], message: str) -> None:
    with pytest.raises(HostConfigError, match=message):
        read_host_options({"extensions": {"queues": queues}})


def test_app_settings_override_host_json_values() -> None:
    document: dict[str, Any] = {"version": "2.0", "extensions": {"queues": {"maxDequeueCount": 5, "batchSize": 16}}}
    settings = {
        "AzureFunctionsJobHost__extensions__queues__maxDequeueCount": "2",
        "AzureFunctionsJobHost__extensions__http__routePrefix": "",
        "UNRELATED": "x",
    }

    overridden = apply_host_overrides(document, settings)
    options = read_host_options(overridden)

    assert options.queues.max_dequeue_count == 2
    assert options.queues.batch_size == 16
    assert options.route_prefix == ""
    assert document["extensions"]["queues"]["maxDequeueCount"] == 5  # the original is left alone


def test_overrides_match_existing_keys_case_insensitively() -> None:
    document = {"extensions": {"queues": {"maxDequeueCount": 5}}}

    overridden = apply_host_overrides(document, {"azurefunctionsjobhost__Extensions__QUEUES__maxdequeuecount": "3"})

    assert overridden == {"extensions": {"queues": {"maxDequeueCount": "3"}}}


def test_setting_expressions_are_resolved_from_app_settings() -> None:
    settings = {"WorkQueue": "builds", "Env": "dev"}

    assert resolve_setting_expressions("%WorkQueue%", settings, where="f") == "builds"
    assert resolve_setting_expressions("%WorkQueue%-%Env%", settings, where="f") == "builds-dev"
    assert resolve_setting_expressions("plain", settings, where="f") == "plain"


def test_an_unknown_setting_expression_names_the_setting() -> None:
    with pytest.raises(HostConfigError, match="function 'work': '%Missing%' does not resolve to a value"):
        resolve_setting_expressions("%Missing%", {}, where="function 'work'")
