"""Sealing secret values that must be stored until a worker uses them (`--set-secret`, `--secret-arg`).

Run records and task documents live in Table Storage; a value given as a secret must never sit there
in plain text. `SecretSealer.seal` encrypts it with AES-256-GCM under the service's data key
(`SLIPWAY_DATA_KEY`) into a text token:

    sealed:v1:<key id>:<nonce>:<ciphertext and tag>     (base64url without padding)

The caller's `context` (say `run/ca1/values/password`) is authenticated with the value but not
stored in the token, so a token copied into another run or field does not open there. The key id is
derived from the key (an HMAC of a fixed label, so it reveals nothing about the key) and tells which
key sealed a token.

Rotation: `SLIPWAY_DATA_KEY` may hold several keys separated by commas or whitespace. The first one
seals; any of them opens. To rotate, put the new key first and keep the old one after it until
every token sealed with it is gone (or `reseal`ed).

A 96-bit random nonce per seal keeps AES-GCM safe for far more values than one service seals with one
key (NIST's limit for random nonces is 2**32 per key).

Errors are `SealedValueError` and never hold a value or a token: a token handed to `unseal` by
mistake may be a plain secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.errors import SlipwayError

PREFIX = "sealed:v1:"
DATA_KEY_SETTING = "SLIPWAY_DATA_KEY"
KEY_BYTES = 32
_NONCE_BYTES = 12
_TAG_BYTES = 16
_KEY_ID_LABEL = b"slipway sealed-values key id v1"
_KEY_ID_BYTES = 8
_TOKEN = re.compile(r"\Asealed:v1:(?P<kid>[A-Za-z0-9_-]{11}):(?P<nonce>[A-Za-z0-9_-]{16}):(?P<body>[A-Za-z0-9_-]+)\Z")
_KEY_SEPARATORS = re.compile(r"[\s,]+")


class SealedValueError(SlipwayError):
    """A sealed value cannot be opened (or a data key cannot be used). The message never holds a value."""

    status = 500
    code = "SealedValueUnreadable"


def generate_data_key() -> str:
    """A new random data key, as `SLIPWAY_DATA_KEY` holds it (32 bytes, standard base64)."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def key_id(key: bytes) -> str:
    """The public name of `key` in tokens: 11 base64url characters derived from the key."""
    digest = hmac.new(key, _KEY_ID_LABEL, hashlib.sha256).digest()[:_KEY_ID_BYTES]
    return _b64encode(digest)


def parse_data_keys(text: str, *, setting: str = DATA_KEY_SETTING) -> tuple[bytes, ...]:
    """The keys in a setting's value (already resolved from Key Vault): base64, the sealing key first.

    Example: `parse_data_keys(new_key + "," + old_key)`.
    """
    parts = [part for part in _KEY_SEPARATORS.split(text.strip()) if part]
    if not parts:
        raise SealedValueError(
            f"{setting} is empty; set it to a data key made by `python -c 'from core.sealed_values import "
            "generate_data_key; print(generate_data_key())'` (32 random bytes, base64)",
            target=setting,
        )
    keys: list[bytes] = []
    for position, part in enumerate(parts, start=1):
        try:
            key = base64.b64decode(part.replace("-", "+").replace("_", "/") + "=" * (-len(part) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise SealedValueError(f"{setting}: key {position} is not base64", target=setting) from None
        if len(key) != KEY_BYTES:
            raise SealedValueError(
                f"{setting}: key {position} is {len(key)} bytes; data keys are {KEY_BYTES} random bytes in base64",
                target=setting,
            )
        keys.append(key)
    return tuple(keys)


def is_sealed(text: str) -> bool:
    """True when `text` has the shape of a sealed token (it may still fail to open)."""
    return text.startswith(PREFIX)


class SecretSealer:
    """Seals and opens secret values with the service's data keys; the first key seals, any key opens.

    Example: `SecretSealer(new_key, old_key).seal("hunter2", context="run/ca1/values/password")`.
    """

    def __init__(self, key: bytes, *previous_keys: bytes) -> None:
        keys = (key, *previous_keys)
        for position, candidate in enumerate(keys, start=1):
            if len(candidate) != KEY_BYTES:
                raise SealedValueError(f"data key {position} is {len(candidate)} bytes; AES-256 needs {KEY_BYTES}")
        self._ciphers: dict[str, AESGCM] = {}
        for candidate in keys:
            kid = key_id(candidate)
            if kid in self._ciphers:
                raise SealedValueError(f"data key {kid} is configured twice; list each key once")
            self._ciphers[kid] = AESGCM(candidate)
        self._sealing_id = key_id(key)

    @classmethod
    def from_setting(cls, text: str, *, setting: str = DATA_KEY_SETTING) -> SecretSealer:
        """A sealer for the keys in a setting's value (see `parse_data_keys`)."""
        first, *rest = parse_data_keys(text, setting=setting)
        return cls(first, *rest)

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The configured keys' ids, the sealing key first."""
        return tuple(self._ciphers)

    def __repr__(self) -> str:
        return f"SecretSealer(key_ids={self.key_ids!r})"

    def seal(self, value: str, *, context: str) -> str:
        """`value` encrypted and bound to `context`, as a `sealed:v1:…` token."""
        nonce = os.urandom(_NONCE_BYTES)
        body = self._ciphers[self._sealing_id].encrypt(
            nonce, value.encode("utf-8"), _associated_data(self._sealing_id, context)
        )
        return f"{PREFIX}{self._sealing_id}:{_b64encode(nonce)}:{_b64encode(body)}"

    def unseal(self, token: str, *, context: str) -> str:
        """The value sealed in `token` for this `context`; `SealedValueError` if it cannot be opened here."""
        match = _TOKEN.match(token)
        if match is None:
            raise SealedValueError(
                f"{_where(context)} is not a sealed value (expected {PREFIX}<key id>:<nonce>:<ciphertext>)"
            )
        kid = match["kid"]
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise SealedValueError(
                f"{_where(context)} was sealed with data key {kid}, which is not configured "
                f"({DATA_KEY_SETTING} has {', '.join(self.key_ids)}); add that key back after the current one"
            )
        try:
            nonce, body = _b64decode(match["nonce"]), _b64decode(match["body"])
        except (binascii.Error, ValueError):
            raise SealedValueError(f"{_where(context)} is not valid base64url") from None
        if len(nonce) != _NONCE_BYTES or len(body) < _TAG_BYTES:
            raise SealedValueError(f"{_where(context)} is truncated")
        try:
            plain = cipher.decrypt(nonce, body, _associated_data(kid, context))
        except InvalidTag:
            raise SealedValueError(
                f"{_where(context)} failed authentication with data key {kid}: it was altered, "
                "or it was sealed for another run or field"
            ) from None
        return plain.decode("utf-8")

    def needs_reseal(self, token: str) -> bool:
        """True when `token` was sealed with a key other than the current sealing key."""
        match = _TOKEN.match(token)
        return match is None or match["kid"] != self._sealing_id

    def reseal(self, token: str, *, context: str) -> str:
        """`token` sealed again with the current key (after a rotation); unchanged if it already is."""
        if not self.needs_reseal(token):
            return token
        return self.seal(self.unseal(token, context=context), context=context)

    def seal_mapping(self, values: Mapping[str, str], *, context: str) -> dict[str, str]:
        """Each value sealed with its own context, `<context>[<json name>]`, so values cannot swap names."""
        return {name: self.seal(value, context=entry_context(context, name)) for name, value in values.items()}

    def unseal_mapping(self, tokens: Mapping[str, str], *, context: str) -> dict[str, str]:
        """The inverse of `seal_mapping`."""
        return {name: self.unseal(token, context=entry_context(context, name)) for name, token in tokens.items()}


def entry_context(context: str, name: str) -> str:
    """The context of one named entry under `context`; JSON quoting keeps any two pairs distinct."""
    return f"{context}[{json.dumps(name)}]"


def _associated_data(kid: str, context: str) -> bytes:
    if not context:
        raise ValueError("a sealed value needs a context, such as 'run/<run id>/<field>'")
    return f"{PREFIX}{kid}:".encode("ascii") + context.encode("utf-8")


def _where(context: str) -> str:
    return f"the sealed value for {context!r}"


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
