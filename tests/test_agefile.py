"""Passphrase age files written and read a chunk at a time."""

from __future__ import annotations

import io
import os

import pyrage
import pytest

from workspace_tasks import agefile

# A low work factor keeps the tests fast; the format is the same.
FAST = 10


def _seal(data: bytes, passphrase: str = "pw", piece: int = 7000) -> bytes:
    out = io.BytesIO()
    writer = agefile.PassphraseWriter(out, passphrase, FAST)
    for start in range(0, len(data), piece):
        writer.write(data[start : start + piece])
    writer.close()
    return out.getvalue()


def _open(sealed: bytes, passphrase: str = "pw") -> agefile.PassphraseReader:
    return agefile.PassphraseReader(io.BufferedReader(io.BytesIO(sealed)), passphrase)


SIZES = [0, 1, agefile.CHUNK - 1, agefile.CHUNK, agefile.CHUNK + 1, 3 * agefile.CHUNK]


@pytest.mark.parametrize("size", SIZES, ids=[f"{s}-bytes" for s in SIZES])
def test_round_trip_across_chunk_boundaries(size):
    data = os.urandom(size)
    sealed = _seal(data)

    reader = _open(sealed)
    pieces = iter(lambda: reader.read(5000), b"")

    assert b"".join(pieces) == data
    assert pyrage.passphrase.decrypt(sealed, "pw") == data


def test_file_sealed_by_pyrage_opens():
    data = os.urandom(100_000)

    assert _open(pyrage.passphrase.encrypt(data, "pw")).read() == data


def test_wrong_passphrase_is_refused_on_opening():
    with pytest.raises(agefile.AgeError, match="passphrase is not the one"):
        _open(_seal(b"secret"), "wrong")


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda s: s[: -agefile.CHUNK - agefile.TAG], id="last-chunk-cut"),
        pytest.param(lambda s: s[:-1], id="one-byte-short"),
        pytest.param(lambda s: s[:-5] + bytes([s[-5] ^ 1]) + s[-4:], id="flipped"),
    ],
)
def test_damaged_or_cut_file_fails_when_read(damage):
    sealed = damage(_seal(os.urandom(3 * agefile.CHUNK + 10)))

    with pytest.raises(agefile.AgeError):
        _open(sealed).read()


def test_changed_header_is_refused():
    sealed = _seal(b"data")
    changed = sealed.replace(b"-> scrypt ", b"-> scrypt  ", 1)

    with pytest.raises(agefile.AgeError):
        _open(changed)


def test_work_factor_above_the_limit_is_refused_before_deriving():
    sealed = _seal(b"data").replace(
        f" {FAST}\n".encode(), f" {agefile.MAX_WORK_FACTOR + 1}\n".encode(), 1
    )

    with pytest.raises(agefile.AgeError, match="work factor"):
        _open(sealed)


def test_memory_of_a_writer_stays_within_a_chunk():
    out = io.BytesIO()
    writer = agefile.PassphraseWriter(out, "pw", FAST)
    for _ in range(50):
        writer.write(bytes(100_000))
        assert len(writer._pending) <= agefile.CHUNK
    writer.close()
