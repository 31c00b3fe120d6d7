import json
from datetime import UTC, datetime
from typing import Any

import pytest

from core.errors import InvalidRequest, Unauthorized
from core.registry_events import (
    HandshakeReply,
    IgnoredEvent,
    ImagePushed,
    RegistryEvents,
    classify_registry_request,
    parse_registry_events,
    verify_event_token,
)

DIGEST = "sha256:213bbc182920ab41e18edc2001e06abcca6735d87782d9cef68abd83941cf0e5"
MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DISTRIBUTION_TYPE = "application/vnd.docker.distribution.events.v1+json"

# What Debian's docker-registry 2.8.2 sent for `docker push 127.0.0.1:47677/probe/app:v1` (one envelope per event).
DISTRIBUTION_MANIFEST_PUSH = {
    "events": [
        {
            "id": "3e22a612-b2a5-45fe-a970-78c557711fde",
            "timestamp": "2026-11-26T14:30:10.752126762Z",
            "action": "push",
            "target": {
                "mediaType": MANIFEST,
                "size": 527,
                "digest": "sha256:2d394acbbafe4c407f83823580b9d0cd45a69e44b6f8b3e6a9c890c9cb20707c",
                "length": 527,
                "repository": "probe/app",
                "url": "http://127.0.0.1:47677/v2/probe/app/manifests/sha256:2d394acbbafe4c407f83823580b9d0cd45a69e44b6f8b3e6a9c890c9cb20707c",
                "tag": "v1",
                "references": [
                    {
                        "mediaType": "application/vnd.docker.container.image.v1+json",
                        "size": 895,
                        "digest": "sha256:273945044cddeb8739d81f4df9a7a8023c5eb7c32fbb703b3cd0023f9fb0f219",
                    }
                ],
            },
            "request": {
                "id": "0b0a44a4-7b42-4a0c-9d0b-5d1f2d4b7a63",
                "addr": "127.0.0.1:46520",
                "host": "127.0.0.1:47677",
                "method": "PUT",
                "useragent": "docker/20.10.24+dfsg1 go/go1.19.8",
            },
            "actor": {},
            "source": {"addr": "vm:47677", "instanceID": "c3ca8dd4-d82d-4342-89e9-5fdcadbe391d"},
        }
    ]
}
DISTRIBUTION_BLOB_PUSH = {
    "events": [
        {
            "id": "e03d4371-bcf4-4f26-9ced-cc16dee34892",
            "timestamp": "2026-11-26T14:30:10.723174978Z",
            "action": "push",
            "target": {
                "mediaType": "application/octet-stream",
                "size": 1064675,
                "digest": "sha256:c15ffe9f3c553335545df1f6fad1be4a875bb6834f504492717a06cf8be37d3c",
                "length": 1064675,
                "repository": "probe/app",
            },
            "request": {"id": "ac63cb25", "addr": "127.0.0.1:46430", "host": "127.0.0.1:47677", "method": "PUT"},
            "actor": {},
            "source": {"addr": "vm:47677", "instanceID": "c3ca8dd4"},
        }
    ]
}
# The ACR webhook reference's push example.
ACR_WEBHOOK_PUSH = {
    "id": "cb8c3971-9adc-488b-xxxx-43cbb4974ff5",
    "timestamp": "2017-11-17T16:52:01.343145347Z",
    "action": "push",
    "target": {
        "mediaType": MANIFEST,
        "size": 524,
        "digest": DIGEST,
        "length": 524,
        "repository": "hello-world",
        "tag": "v1",
    },
    "request": {
        "id": "3cbb6949-7549-4fa1-xxxx-a6d5451dffc7",
        "host": "myregistry.azurecr.io",
        "method": "PUT",
        "useragent": "docker/17.09.0-ce",
    },
}
REGISTRY_EVENT_DATA = {
    "id": "31c51664-e5bd-416a-a5df-e5206bc47ed0",
    "timestamp": "2018-04-25T21:39:47.276585742Z",
    "action": "push",
    "target": {
        "mediaType": MANIFEST,
        "size": 3023,
        "digest": DIGEST,
        "length": 3023,
        "repository": "aci-helloworld",
        "tag": "v1",
    },
    "request": {
        "id": "7c66f28b-de19-40a4-821c-6f5f6c0003a4",
        "host": "demo.azurecr.io",
        "method": "PUT",
        "useragent": "docker/18.03.0-ce",
    },
}
REGISTRY_RESOURCE = (
    "/subscriptions/<subscription-id>/resourceGroups/<resource-group-name>"
    "/providers/Microsoft.ContainerRegistry/registries/<name>"
)
# Event Grid schema and CloudEvents schema, as in learn.microsoft.com/azure/event-grid/event-schema-container-registry.
EVENT_GRID_PUSH = [
    {
        "id": "831e1650-001e-001b-66ab-eeb76e069631",
        "topic": REGISTRY_RESOURCE,
        "subject": "aci-helloworld:v1",
        "eventType": "Microsoft.ContainerRegistry.ImagePushed",
        "eventTime": "2018-04-25T21:39:47.6549614Z",
        "data": REGISTRY_EVENT_DATA,
        "dataVersion": "1.0",
        "metadataVersion": "1",
    }
]
CLOUD_EVENTS_PUSH = [
    {
        "id": "831e1650-001e-001b-66ab-eeb76e069631",
        "source": REGISTRY_RESOURCE,
        "subject": "aci-helloworld:v1",
        "type": "Microsoft.ContainerRegistry.ImagePushed",
        "time": "2018-04-25T21:39:47.6549614Z",
        "data": REGISTRY_EVENT_DATA,
        "specversion": "1.0",
    }
]
EVENT_GRID_VALIDATION = [
    {
        "id": "2d1781af-3a4c-4d7c-bd0c-e34b19da4e66",
        "topic": "/subscriptions/xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
        "subject": "",
        "data": {
            "validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6",
            "validationUrl": "https://rp-eastus2.eventgrid.azure.net:553/eventsubscriptions/myeventsub/validate?id=0000",
        },
        "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
        "eventTime": "2018-01-25T22:12:19.4556811Z",
        "metadataVersion": "1",
        "dataVersion": "1",
    }
]
ACR_PUSHED = ImagePushed(
    registry="demo.azurecr.io",
    repository="aci-helloworld",
    tag="v1",
    digest=DIGEST,
    media_type=MANIFEST,
    event_id="31c51664-e5bd-416a-a5df-e5206bc47ed0",
    occurred_at=datetime(2018, 4, 25, 21, 39, 47, 276585, tzinfo=UTC),
)


def classify(
    body: Any, *, method: str = "POST", headers: dict[str, str] | None = None
) -> HandshakeReply | RegistryEvents:
    return classify_registry_request(
        method,
        headers or {"Content-Type": "application/json"},
        json.dumps(body).encode(),
        default_registry="slipway.local:5000",
    )


def test_a_distribution_manifest_push_by_tag_becomes_one_image_pushed_named_by_the_request_host() -> None:
    result = classify(DISTRIBUTION_MANIFEST_PUSH, headers={"Content-Type": DISTRIBUTION_TYPE})

    assert result == RegistryEvents(
        pushed=(
            ImagePushed(
                registry="127.0.0.1:47677",
                repository="probe/app",
                tag="v1",
                digest="sha256:2d394acbbafe4c407f83823580b9d0cd45a69e44b6f8b3e6a9c890c9cb20707c",
                media_type=MANIFEST,
                event_id="3e22a612-b2a5-45fe-a970-78c557711fde",
                occurred_at=datetime(2026, 11, 26, 14, 30, 10, 752126, tzinfo=UTC),
            ),
        )
    )
    assert result.pushed[0].image == "127.0.0.1:47677/probe/app:v1"


def test_a_blob_push_is_ignored_with_the_reason() -> None:
    result = parse_registry_events(DISTRIBUTION_BLOB_PUSH, default_registry="r.example")

    assert result.pushed == ()
    assert [i.event_id for i in result.ignored] == ["e03d4371-bcf4-4f26-9ced-cc16dee34892"]
    assert "not a manifest" in result.ignored[0].reason


def test_a_manifest_pushed_by_digest_only_is_ignored_because_triggers_follow_tags() -> None:
    event = json.loads(json.dumps(DISTRIBUTION_MANIFEST_PUSH))
    del event["events"][0]["target"]["tag"]

    result = parse_registry_events(event, default_registry="r.example")

    assert result.pushed == ()
    assert "by digest only" in result.ignored[0].reason


def test_pulls_deletes_and_mounts_are_ignored_but_pushes_in_the_same_envelope_are_kept() -> None:
    push = DISTRIBUTION_MANIFEST_PUSH["events"][0]
    others = [{**push, "id": action, "action": action} for action in ("pull", "delete", "mount")]

    result = parse_registry_events({"events": [*others, push]}, default_registry="r.example")

    assert [p.event_id for p in result.pushed] == [push["id"]]
    assert [(i.event_id, i.reason) for i in result.ignored] == [
        (action, f"action '{action}' on probe/app is not a push") for action in ("pull", "delete", "mount")
    ]


@pytest.mark.parametrize(
    "media_type",
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ],
)
def test_every_manifest_media_type_counts_as_an_image_push(media_type: str) -> None:
    event = {**ACR_WEBHOOK_PUSH, "target": {**ACR_WEBHOOK_PUSH["target"], "mediaType": media_type}}

    assert [p.media_type for p in parse_registry_events(event, default_registry="x.io").pushed] == [media_type]


def test_an_acr_webhook_event_names_the_login_server() -> None:
    result = classify(ACR_WEBHOOK_PUSH)

    assert isinstance(result, RegistryEvents)
    assert [(p.registry, p.repository, p.tag, p.digest) for p in result.pushed] == [
        ("myregistry.azurecr.io", "hello-world", "v1", DIGEST)
    ]


def test_an_event_without_a_request_host_uses_the_configured_registry() -> None:
    event = {key: value for key, value in ACR_WEBHOOK_PUSH.items() if key != "request"}

    assert (
        parse_registry_events(event, default_registry="Slipway.Local:5000").pushed[0].registry == "slipway.local:5000"
    )


def test_docker_hub_host_names_are_normalised_as_dependency_reports_name_them() -> None:
    event = {
        **ACR_WEBHOOK_PUSH,
        "request": {"host": "docker.io"},
        "target": {**ACR_WEBHOOK_PUSH["target"], "repository": "node"},
    }

    pushed = parse_registry_events(event, default_registry="x.io").pushed[0]

    assert pushed.image == "registry.hub.docker.com/library/node:v1"


def test_an_event_grid_image_pushed_event_gives_the_same_result_as_the_webhook() -> None:
    assert classify(EVENT_GRID_PUSH) == RegistryEvents(pushed=(ACR_PUSHED,))


def test_a_cloud_events_batch_gives_the_same_result_as_the_event_grid_schema() -> None:
    assert classify(
        CLOUD_EVENTS_PUSH, headers={"Content-Type": "application/cloudevents-batch+json"}
    ) == RegistryEvents(pushed=(ACR_PUSHED,))


def test_a_single_structured_cloud_event_is_accepted() -> None:
    assert classify(CLOUD_EVENTS_PUSH[0]) == RegistryEvents(pushed=(ACR_PUSHED,))


def test_a_binary_mode_cloud_event_is_read_from_its_ce_headers() -> None:
    headers = {"ce-specversion": "1.0", "ce-type": "Microsoft.ContainerRegistry.ImagePushed", "ce-id": "outer"}

    assert classify(REGISTRY_EVENT_DATA, headers=headers) == RegistryEvents(pushed=(ACR_PUSHED,))


def test_other_event_grid_event_types_are_ignored_with_their_type() -> None:
    deleted = [{**EVENT_GRID_PUSH[0], "eventType": "Microsoft.ContainerRegistry.ImageDeleted"}]
    chart = [{**CLOUD_EVENTS_PUSH[0], "type": "Microsoft.ContainerRegistry.ChartPushed"}]

    assert classify(deleted) == RegistryEvents(
        ignored=(
            IgnoredEvent(
                "831e1650-001e-001b-66ab-eeb76e069631",
                "Event Grid event type Microsoft.ContainerRegistry.ImageDeleted is not an image push",
            ),
        )
    )
    assert classify(chart) == RegistryEvents(
        ignored=(
            IgnoredEvent(
                "831e1650-001e-001b-66ab-eeb76e069631",
                "CloudEvents type Microsoft.ContainerRegistry.ChartPushed is not an image push",
            ),
        )
    )


def test_the_event_grid_validation_event_is_answered_with_its_code() -> None:
    reply = classify(EVENT_GRID_VALIDATION, headers={"aeg-event-type": "SubscriptionValidation"})

    assert reply == HandshakeReply(status=200, body={"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"})


def test_a_validation_event_without_a_code_is_a_bad_request() -> None:
    with pytest.raises(InvalidRequest, match="validationCode"):
        classify([{**EVENT_GRID_VALIDATION[0], "data": {}}])


def test_the_cloud_events_options_handshake_allows_the_requesting_origin() -> None:
    reply = classify_registry_request(
        "OPTIONS", {"WebHook-Request-Origin": "eventgrid.azure.net"}, b"", default_registry="x.io"
    )

    assert reply == HandshakeReply(
        status=200, headers={"WebHook-Allowed-Origin": "eventgrid.azure.net", "WebHook-Allowed-Rate": "*"}
    )


def test_options_without_an_origin_is_a_bad_request() -> None:
    with pytest.raises(InvalidRequest, match="WebHook-Request-Origin"):
        classify_registry_request("OPTIONS", {}, b"", default_registry="x.io")


@pytest.mark.parametrize("body", [b"not json", b'{"hello": 1}', b"42"])
def test_bodies_of_unknown_shape_are_bad_requests(body: bytes) -> None:
    with pytest.raises(InvalidRequest):
        classify_registry_request("POST", {}, body, default_registry="x.io")


def test_a_push_with_a_malformed_digest_or_repository_is_ignored_not_raised() -> None:
    bad_digest = {**ACR_WEBHOOK_PUSH, "target": {**ACR_WEBHOOK_PUSH["target"], "digest": "nope"}}
    bad_repository = {**ACR_WEBHOOK_PUSH, "target": {**ACR_WEBHOOK_PUSH["target"], "repository": "Upper/Case"}}

    result = parse_registry_events({"events": [bad_digest, bad_repository]}, default_registry="x.io")

    assert result.pushed == ()
    assert "no valid digest" in result.ignored[0].reason
    assert "invalid image" in result.ignored[1].reason


def test_a_bearer_token_from_distribution_is_accepted() -> None:
    verify_event_token({"Authorization": "Bearer s3cret"}, ["s3cret"])


def test_a_custom_token_header_from_an_acr_webhook_is_accepted_case_insensitively() -> None:
    verify_event_token({"X-Slipway-Token": "s3cret"}, ["old", "s3cret"])


def test_a_configured_custom_header_name_is_accepted() -> None:
    verify_event_token({"x-acr-secret": "s3cret"}, ["s3cret"], header_names=["X-ACR-Secret"])


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret"}, {"x-slipway-token": "s3cre"}],
)
def test_a_missing_or_wrong_token_is_unauthorized_and_the_message_never_echoes_it(headers: dict[str, str]) -> None:
    with pytest.raises(Unauthorized) as caught:
        verify_event_token(headers, ["s3cret"])

    assert "s3cre" not in caught.value.message
    assert "wrong" not in caught.value.message


def test_no_configured_token_refuses_every_notification() -> None:
    with pytest.raises(Unauthorized, match="no event token is configured"):
        verify_event_token({"Authorization": "Bearer anything"}, ["", ""])
