from __future__ import annotations

import base64
import os

import pytest

from core.sealed_values import (
    DATA_KEY_SETTING,
    PREFIX,
    SealedValueError,
    SecretSealer,
    entry_context,
    generate_data_key,
    is_sealed,
    key_id,
    parse_data_keys,
)

SECRET = "hunter2-Ünïcode-\n-line"
CONTEXT = "run/ca1/values/password"


def new_key() -> bytes:
    return os.urandom(32)


def swap_character(text: str, index: int) -> str:
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1 :]


def test_a_sealed_value_opens_with_the_same_key_and_context() -> None:
    sealer = SecretSealer(new_key())
    token = sealer.seal(SECRET, context=CONTEXT)
    assert sealer.unseal(token, context=CONTEXT) == SECRET


def test_a_token_is_compact_text_that_shows_neither_the_value_nor_the_context() -> None:
    key = new_key()
    token = SecretSealer(key).seal(SECRET, context=CONTEXT)
    assert is_sealed(token)
    prefix, version, kid, nonce, _body = token.split(":")
    assert f"{prefix}:{version}:" == PREFIX
    assert kid == key_id(key)
    assert len(nonce) == 16
    assert token.isascii() and " " not in token
    assert SECRET not in token and "ca1" not in token
    assert base64.b64encode(SECRET.encode()).decode() not in token


def test_sealing_twice_gives_different_tokens() -> None:
    sealer = SecretSealer(new_key())
    assert sealer.seal(SECRET, context=CONTEXT) != sealer.seal(SECRET, context=CONTEXT)


def test_an_empty_value_round_trips() -> None:
    sealer = SecretSealer(new_key())
    assert sealer.unseal(sealer.seal("", context=CONTEXT), context=CONTEXT) == ""


def test_a_token_moved_to_another_run_or_field_does_not_open() -> None:
    sealer = SecretSealer(new_key())
    token = sealer.seal(SECRET, context=CONTEXT)
    for other in ("run/ca2/values/password", "run/ca1/arguments/password", CONTEXT + " "):
        with pytest.raises(SealedValueError) as caught:
            sealer.unseal(token, context=other)
        assert "failed authentication" in caught.value.message
        assert repr(other) in caught.value.message
        assert SECRET not in caught.value.message and token not in caught.value.message


@pytest.mark.parametrize("part", [2, 3, 4])
def test_a_tampered_token_does_not_open(part: int) -> None:
    sealer = SecretSealer(new_key())
    token = sealer.seal(SECRET, context=CONTEXT)
    pieces = token.split(":")
    pieces[part] = swap_character(pieces[part], len(pieces[part]) // 2)
    with pytest.raises(SealedValueError) as caught:
        sealer.unseal(":".join(pieces), context=CONTEXT)
    assert SECRET not in caught.value.message


def test_a_truncated_token_does_not_open() -> None:
    sealer = SecretSealer(new_key())
    token = sealer.seal("x", context=CONTEXT)
    with pytest.raises(SealedValueError, match=r"truncated|failed authentication|not valid"):
        sealer.unseal(token[:-3], context=CONTEXT)


def test_a_plain_value_given_as_a_token_is_refused_without_showing_it() -> None:
    sealer = SecretSealer(new_key())
    with pytest.raises(SealedValueError) as caught:
        sealer.unseal("my-plain-password", context=CONTEXT)
    assert "is not a sealed value" in caught.value.message
    assert "my-plain-password" not in caught.value.message
    assert caught.value.status == 500
    assert caught.value.code == "SealedValueUnreadable"


def test_rotation_seals_with_the_first_key_and_opens_with_any() -> None:
    old, new = new_key(), new_key()
    old_token = SecretSealer(old).seal(SECRET, context=CONTEXT)
    rotated = SecretSealer(new, old)
    assert rotated.unseal(old_token, context=CONTEXT) == SECRET
    new_token = rotated.seal(SECRET, context=CONTEXT)
    assert new_token.split(":")[2] == key_id(new)
    assert SecretSealer(new).unseal(new_token, context=CONTEXT) == SECRET


def test_reseal_moves_a_value_to_the_current_key() -> None:
    old, new = new_key(), new_key()
    old_token = SecretSealer(old).seal(SECRET, context=CONTEXT)
    rotated = SecretSealer(new, old)
    assert rotated.needs_reseal(old_token)
    resealed = rotated.reseal(old_token, context=CONTEXT)
    assert not rotated.needs_reseal(resealed)
    assert rotated.reseal(resealed, context=CONTEXT) == resealed
    assert SecretSealer(new).unseal(resealed, context=CONTEXT) == SECRET


def test_a_token_sealed_with_a_removed_key_names_the_key_ids_only() -> None:
    old, new = new_key(), new_key()
    token = SecretSealer(old).seal(SECRET, context=CONTEXT)
    with pytest.raises(SealedValueError) as caught:
        SecretSealer(new).unseal(token, context=CONTEXT)
    message = caught.value.message
    assert key_id(old) in message and key_id(new) in message
    assert DATA_KEY_SETTING in message
    assert base64.b64encode(old).decode() not in message


def test_the_key_id_is_stable_and_does_not_reveal_the_key() -> None:
    key = new_key()
    assert key_id(key) == key_id(bytes(key))
    assert key_id(key) != key_id(new_key())
    assert len(key_id(key)) == 11
    assert base64.urlsafe_b64encode(key).decode()[:11] != key_id(key)


def test_a_sealer_refuses_keys_of_the_wrong_length_or_twice_the_same_key() -> None:
    with pytest.raises(SealedValueError, match="16 bytes"):
        SecretSealer(os.urandom(16))
    key = new_key()
    with pytest.raises(SealedValueError, match="configured twice"):
        SecretSealer(key, key)


def test_the_sealer_repr_shows_key_ids_not_keys() -> None:
    key = new_key()
    text = repr(SecretSealer(key))
    assert key_id(key) in text
    assert base64.b64encode(key).decode() not in text


def test_generated_data_keys_parse_and_several_keys_mean_rotation() -> None:
    first, second = generate_data_key(), generate_data_key()
    assert len(base64.b64decode(first)) == 32
    keys = parse_data_keys(f" {first},\n{second} ")
    assert keys == (base64.b64decode(first), base64.b64decode(second))
    sealer = SecretSealer.from_setting(f"{first} {second}")
    assert sealer.key_ids == (key_id(keys[0]), key_id(keys[1]))


def test_url_safe_and_unpadded_keys_are_accepted() -> None:
    key = new_key()
    text = base64.urlsafe_b64encode(key).decode().rstrip("=")
    assert parse_data_keys(text) == (key,)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "SLIPWAY_DATA_KEY is empty"),
        ("%%%%", "key 1 is not base64"),
        (base64.b64encode(b"short").decode(), "key 1 is 5 bytes"),
    ],
)
def test_a_bad_data_key_setting_says_what_is_wrong_without_showing_it(text: str, message: str) -> None:
    with pytest.raises(SealedValueError, match=message) as caught:
        parse_data_keys(text)
    assert caught.value.target == DATA_KEY_SETTING
    if text:
        assert text not in caught.value.message


def test_a_second_bad_key_is_named_by_position() -> None:
    with pytest.raises(SealedValueError, match="key 2 is 3 bytes"):
        parse_data_keys(generate_data_key() + "," + base64.b64encode(b"abc").decode())


def test_mappings_seal_each_value_under_its_own_name() -> None:
    sealer = SecretSealer(new_key())
    sealed = sealer.seal_mapping({"user": "alice", "password": "hunter2"}, context="run/ca1/values")
    assert set(sealed) == {"user", "password"}
    assert sealer.unseal_mapping(sealed, context="run/ca1/values") == {"user": "alice", "password": "hunter2"}
    swapped = {"user": sealed["password"], "password": sealed["user"]}
    with pytest.raises(SealedValueError, match="failed authentication"):
        sealer.unseal_mapping(swapped, context="run/ca1/values")


def test_entry_contexts_of_different_pairs_never_collide() -> None:
    assert entry_context("a", 'b"]["c') != entry_context('a["b"]', "c")
    assert entry_context("run/ca1", "x") == 'run/ca1["x"]'


def test_a_context_is_required() -> None:
    with pytest.raises(ValueError, match="needs a context"):
        SecretSealer(new_key()).seal(SECRET, context="")
