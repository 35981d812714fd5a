"""Transfer encodings undone piece by piece (mailproc.letter.transfer): the pieces may be cut
anywhere, and the bytes are those the email package decodes from the whole part."""

from __future__ import annotations

import base64
import binascii
import random

import pytest

from mailproc.letter.transfer import PartDecoder

TEXT = "Анкета читателя = заполнена; строка с пробелом в конце \n".encode() * 300
BINARY = random.Random(7).randbytes(50_000)


def _pieces(data: bytes, step: int) -> list[bytes]:
    return [data[i:i + step] for i in range(0, len(data), step)]


def _decode(encoding: str, encoded: bytes, step: int) -> bytes:
    d = PartDecoder(encoding)
    return b"".join(d.feed(p) for p in _pieces(encoded, step)) + d.finish()


@pytest.mark.parametrize("step", [1, 2, 3, 5, 77, 997, 10**6])
def test_base64_cut_anywhere(step):
    encoded = base64.encodebytes(BINARY).replace(b"\n", b"\r\n")
    assert _decode("base64", encoded, step) == BINARY
    assert _decode("BASE64", b" " + encoded + b"!\r\n", step) == BINARY  # stray characters


def test_base64_short_last_quantum_is_padded_like_the_email_package():
    assert _decode("base64", base64.b64encode(b"abcd").rstrip(b"="), 3) == b"abcd"


@pytest.mark.parametrize("step", [1, 2, 3, 5, 77, 997, 10**6])
def test_quoted_printable_cut_inside_escapes_and_soft_breaks(step):
    encoded = binascii.b2a_qp(TEXT)
    assert b"=\n" in encoded or b"=" in encoded
    assert _decode("quoted-printable", encoded, step) == TEXT


@pytest.mark.parametrize("encoding", ["7bit", "8bit", "binary", ""])
def test_identity_encodings_pass_through(encoding):
    assert _decode(encoding, BINARY, 999) == BINARY
