"""Secret masking in streamed logs: whatever the chunking, the output equals masking the whole stream."""

from __future__ import annotations

import base64
import itertools
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.log_masking import MASK, MaskPatterns, StreamRedactor, mask_bytes, mask_text, secret_forms

SECRET = "hunter2-Pa55"


def reference_mask(data: bytes, values: list[str]) -> bytes:
    """A slow, obviously right masker: mark every byte inside any form, one *** per marked run."""
    covered = [False] * len(data)
    for value in values:
        for form in secret_forms(value):
            for start in range(len(data) - len(form) + 1):
                if data.startswith(form, start):
                    covered[start : start + len(form)] = [True] * len(form)
    out = bytearray()
    for index, byte in enumerate(data):
        if not covered[index]:
            out.append(byte)
        elif index == 0 or not covered[index - 1]:
            out += MASK
    return bytes(out)


def stream(values: list[str], chunks: list[bytes]) -> bytes:
    redactor = StreamRedactor.for_values(values)
    return b"".join(redactor.feed(chunk) for chunk in chunks) + redactor.flush()


def test_a_secret_is_masked_wherever_the_stream_is_split_in_two() -> None:
    data = f"login with {SECRET} now\n".encode()
    for cut in range(len(data) + 1):
        assert stream([SECRET], [data[:cut], data[cut:]]) == b"login with *** now\n", cut


def test_a_secret_fed_one_byte_at_a_time_is_masked() -> None:
    data = f"{SECRET}{SECRET} and {SECRET}".encode()
    assert stream([SECRET], [bytes([byte]) for byte in data]) == b"*** and ***"


def test_a_secret_split_at_every_pair_of_positions_is_masked() -> None:
    data = f"a{SECRET}b{SECRET}".encode()
    for first in range(len(data) + 1):
        for second in range(first, len(data) + 1):
            assert stream([SECRET], [data[:first], data[first:second], data[second:]]) == b"a***b***"


def test_overlapping_secrets_leave_no_fragment_of_either() -> None:
    assert mask_bytes(b"xx abcdef yy", ["abcd", "cdef"]) == b"xx *** yy"


def test_a_secret_that_is_a_prefix_of_another_masks_both_completely() -> None:
    values = ["token", "token-extended"]
    assert mask_bytes(b"token-extended then token-ext", values) == b"*** then ***-ext"
    data = b"token-extended then token-ext"
    for cut in range(len(data) + 1):
        assert stream(values, [data[:cut], data[cut:]]) == b"*** then ***-ext"


def test_a_partial_secret_at_the_end_of_the_stream_is_released_unmasked_at_flush() -> None:
    redactor = StreamRedactor.for_values([SECRET])
    released = redactor.feed(b"almost hunter2-Pa")
    assert released == b"almost "
    assert redactor.held_bytes == len("hunter2-Pa")
    assert redactor.flush() == b"hunter2-Pa"


def test_text_that_cannot_start_a_secret_is_released_at_once() -> None:
    redactor = StreamRedactor.for_values([SECRET])
    assert redactor.feed(b"Step 1/3 : FROM base\n") == b"Step 1/3 : FROM base\n"
    assert redactor.held_bytes == 0


def test_held_back_bytes_never_exceed_the_longest_form_minus_one() -> None:
    values = [SECRET, "x" * 40]
    longest = MaskPatterns.for_values(values).longest
    redactor = StreamRedactor.for_values(values)
    for chunk in (b"x" * 39, b"hunter2-Pa5", b"x" * 10, b"h"):
        redactor.feed(chunk)
        assert redactor.held_bytes <= longest - 1


def test_many_small_chunks_of_a_long_log_are_masked_like_the_whole_log() -> None:
    line = f"step output {SECRET} with base64 {base64.b64encode(SECRET.encode()).decode()} ok\n".encode()
    data = line * 2000
    chunks = [data[start : start + 37] for start in range(0, len(data), 37)]
    assert stream([SECRET], chunks) == mask_bytes(data, [SECRET])
    assert SECRET.encode() not in stream([SECRET], chunks)


def test_the_base64_form_is_masked_even_inside_a_longer_base64_string() -> None:
    auth = base64.b64encode(f"user:{SECRET}".encode())  # a docker config.json "auth" field
    masked = mask_bytes(b'{"auth": "' + auth + b'"}', [SECRET])
    assert auth not in masked
    assert MASK in masked
    for prefix in ("", "u", "us", "use"):
        encoded = base64.b64encode(f"{prefix}{SECRET}".encode())
        assert MASK in mask_bytes(encoded, [SECRET]), prefix


def test_json_escaped_and_url_encoded_forms_are_masked() -> None:
    value = 'p"a\\ss/wörd'
    assert mask_bytes(json.dumps({"pw": value}).encode(), [value]) == b'{"pw": "***"}'
    assert mask_bytes(json.dumps({"pw": value}, ensure_ascii=False).encode(), [value]) == b'{"pw": "***"}'
    assert mask_bytes(b"https://x:p%22a%5Css%2Fw%C3%B6rd@host", [value]) == b"https://x:***@host"


def test_each_line_of_a_multiline_secret_is_masked_as_well_as_the_whole_value() -> None:
    key = "-----BEGIN KEY-----\nMIIEvQIBADANBg\n-----END KEY-----"
    assert mask_bytes(f"key:\n{key}\n".encode(), [key]) == b"key:\n***\n"
    printed = key.replace("\n", "\r\n")
    assert mask_bytes(printed.encode(), [key]) == b"***\r\n***\r\n***"


def test_short_values_are_masked_but_short_derived_fragments_are_not() -> None:
    assert mask_bytes(b"pin 42 and 4242", ["42"]) == b"pin *** and ***"
    assert all(len(form) >= 4 for form in secret_forms("42") - {b"42"})
    assert b"}" not in secret_forms("{\n}")


def test_empty_values_and_no_values_leave_the_stream_unchanged() -> None:
    assert mask_bytes(b"nothing to hide", ["", b""]) == b"nothing to hide"
    redactor = StreamRedactor.for_values([])
    assert redactor.feed(b"abc") == b"abc"
    assert redactor.flush() == b""


def test_a_masked_run_carried_over_survives_a_chunk_that_releases_nothing() -> None:
    values = ["\U00010000\x80", "\x800"]  # the end of the first is the start of the second
    data = "\U00010000\x80".encode()
    assert stream(values, [data, b"", b""]) == b"***"
    assert stream(values, [data[:5], b"", data[5:], b""]) == b"***"


def test_values_added_after_the_log_opened_are_masked_from_then_on() -> None:
    redactor = StreamRedactor.for_values([])
    before = redactor.feed(b"Downloading source code...\n")
    redactor.add_values([SECRET])
    after = redactor.feed(f"login {SECRET[:5]}".encode()) + redactor.feed(f"{SECRET[5:]} ok\n".encode())
    assert before + after + redactor.flush() == b"Downloading source code...\nlogin *** ok\n"


def test_mask_text_masks_strings_for_messages() -> None:
    assert mask_text(f"bad password {SECRET}!", [SECRET]) == "bad password ***!"


SECRET_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="*"), min_size=1, max_size=12)
NOISE = st.binary(max_size=30)


@st.composite
def chunked_streams(draw: st.DrawFn) -> tuple[list[str], bytes, list[bytes]]:
    values = draw(st.lists(SECRET_TEXT, min_size=1, max_size=4))
    pieces = draw(
        st.lists(
            st.one_of(
                NOISE,
                st.sampled_from(values).map(str.encode),
                st.sampled_from(values).map(lambda value: base64.b64encode(value.encode())),
                st.sampled_from(values).map(lambda value: value.encode()[: max(1, len(value.encode()) - 1)]),
                st.sampled_from(values).map(lambda value: value.encode()[1:]),
            ),
            max_size=12,
        )
    )
    data = b"".join(pieces)
    cuts = sorted(draw(st.lists(st.integers(min_value=0, max_value=len(data)), max_size=8)))
    bounds = [0, *cuts, len(data)]
    return values, data, [data[start:end] for start, end in itertools.pairwise(bounds)]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunked_streams())
def test_any_chunking_of_any_stream_masks_every_secret_exactly_like_the_one_shot_reference(
    case: tuple[list[str], bytes, list[bytes]],
) -> None:
    values, data, chunks = case
    output = stream(values, chunks)
    assert output == reference_mask(data, values)
    assert output == mask_bytes(data, values)
    for value in values:
        assert value.encode() not in output


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text("ab", min_size=1, max_size=6), min_size=1, max_size=3),
    st.text("ab", max_size=40),
    st.lists(st.integers(min_value=0, max_value=40), max_size=10),
)
def test_secrets_built_from_two_letters_overlap_everywhere_and_are_still_masked_like_the_reference(
    values: list[str], text: str, cuts: list[int]
) -> None:
    data = text.encode()
    bounds = [0, *sorted(min(cut, len(data)) for cut in cuts), len(data)]
    assert stream(values, [data[start:end] for start, end in itertools.pairwise(bounds)]) == reference_mask(
        data, values
    )
