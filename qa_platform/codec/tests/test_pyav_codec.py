"""Packet framing of the PyAV elementary streams: ULEB128 sizes for AV1 and VP9, AV1 without
temporal delimiters, decoding order equal to display order, bitstreams independent of the core count."""
import hashlib
import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from conftest import synthetic_frames
from qa_platform.codec import anchor as pyav_codec
from qa_platform.codec.anchor import Framing, join_packets
from qa_platform.codec.bitstream import BitstreamError, read_uleb128
from qa_platform.codec.tests.test_codecs import STREAMS

BASE_DIR = Path(__file__).resolve().parents[3]
LENGTH_PREFIXED = sorted(name for name, fmt in STREAMS.items() if fmt.framing is Framing.LEB128)
# AV1 OBU types (AV1 spec Section 6.2.2, Table "obu_type").
OBU_SEQUENCE_HEADER, OBU_TEMPORAL_DELIMITER, OBU_FRAME = 1, 2, 6

# Encodes a small clip in a process pinned to the CPUs named in argv[2] and prints the stream's SHA-256.
PINNED_ENCODE = """
import hashlib, os, sys
from fractions import Fraction
os.sched_setaffinity(0, {int(cpu) for cpu in sys.argv[2].split(",")})
from conftest import synthetic_frames
from qa_platform.codec import anchor as pyav_codec
from qa_platform.codec.tests.test_codecs import STREAMS
data = pyav_codec.encode_frames(synthetic_frames(t=20, size=128), Fraction(25), STREAMS[sys.argv[1]], 40)
print(hashlib.sha256(data).hexdigest())
"""


def split_sizes(data: bytes) -> list[int]:
    """Sizes of the packets of a ULEB128-framed stream, read independently of pyav_codec."""
    sizes, offset = [], 0
    while offset < len(data):
        size, offset = read_uleb128(data, offset, "packet size")
        sizes.append(size)
        offset += size
    assert offset == len(data)
    return sizes


def obu_types(temporal_unit: bytes) -> list[int]:
    """OBU types of one AV1 temporal unit (OBU header and obu_size, AV1 spec Sections 5.3.1 to 5.3.3)."""
    types, offset = [], 0
    while offset < len(temporal_unit):
        header = temporal_unit[offset]
        assert header & 0x02, "every OBU carries its size (obu_has_size_field)"
        types.append((header >> 3) & 0x0F)
        size, offset = read_uleb128(temporal_unit, offset + 1 + ((header >> 2) & 1), "obu_size")
        offset += size
    assert offset == len(temporal_unit)
    return types


class TestFraming:
    @pytest.mark.parametrize("size, prefix", [(1, 1), (127, 1), (128, 2), (16383, 2), (16384, 3)])
    def test_each_packet_costs_its_uleb128_size(self, size, prefix):
        data = join_packets([bytes(size), b"\x01"], Framing.LEB128)
        assert len(data) == size + prefix + 1 + 1
        assert split_sizes(data) == [size, 1]

    def test_annex_b_packets_are_only_concatenated(self):
        assert join_packets([b"\x00\x00\x01\x09", b"\x00\x00\x01\x0a"], Framing.ANNEX_B) == bytes.fromhex(
            "000001090000010a")

    @pytest.mark.parametrize("encoder", LENGTH_PREFIXED)
    def test_a_stream_is_its_packets_and_their_sizes_only(self, encoder):
        data = pyav_codec.encode_frames(synthetic_frames(t=10), Fraction(25), STREAMS[encoder], 40)
        sizes = split_sizes(data)
        assert len(sizes) == 10
        assert len(data) == sum(sizes) + sum(1 if size < 128 else 2 for size in sizes)

    @pytest.mark.parametrize("encoder", LENGTH_PREFIXED)
    @pytest.mark.parametrize("damage", ["zero size", "cut inside a packet", "cut inside a size"])
    def test_a_damaged_length_prefixed_stream_is_refused(self, encoder, damage):
        data = pyav_codec.encode_frames(synthetic_frames(t=3), Fraction(25), STREAMS[encoder], 40)
        first = split_sizes(data)[0]
        size_bytes = 1 if first < 128 else 2
        damaged = {"zero size": b"\x00" + data, "cut inside a packet": data[:size_bytes + first // 2],
                   "cut inside a size": data[:size_bytes + first] + b"\x80"}[damage]
        with pytest.raises(BitstreamError, match="damaged"):
            pyav_codec.decode_frames(damaged, STREAMS[encoder])


class TestAv1TemporalUnits:
    def test_temporal_units_hold_no_temporal_delimiter(self):
        data = pyav_codec.encode_frames(synthetic_frames(t=10), Fraction(25), STREAMS["libsvtav1"], 40)
        units, offset = [], 0
        for size in split_sizes(data):
            offset += 1 if size < 128 else 2
            units.append(obu_types(data[offset:offset + size]))
            offset += size
        assert units[0][0] == OBU_SEQUENCE_HEADER
        assert all(OBU_TEMPORAL_DELIMITER not in types for types in units)
        assert all(types.count(OBU_FRAME) == 1 for types in units), units


@pytest.mark.parametrize("encoder", sorted(STREAMS))
class TestLowDelay:
    def test_decoding_order_is_display_order(self, encoder):
        data = pyav_codec.encode_frames(synthetic_frames(t=25), Fraction(25), STREAMS[encoder], 40)
        assert [frame.pts for frame in pyav_codec.decode_pictures(data, STREAMS[encoder])] == list(range(25))

    def test_a_decode_repeats_bit_exactly(self, encoder):
        data = pyav_codec.encode_frames(synthetic_frames(t=10), Fraction(25), STREAMS[encoder], 40)
        first, second = (pyav_codec.decode_frames(data, STREAMS[encoder]) for _ in range(2))
        assert hashlib.sha256(first.tobytes()).digest() == hashlib.sha256(second.tobytes()).digest()

    @pytest.mark.slow  # spawns a process per CPU set
    @pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
    def test_the_bitstream_does_not_depend_on_the_core_count(self, encoder):
        cpus = sorted(os.sched_getaffinity(0))
        digests = {
            subprocess.run([sys.executable, "-c", PINNED_ENCODE, encoder, ",".join(map(str, allowed))],
                           cwd=BASE_DIR, capture_output=True, text=True, timeout=120, check=True).stdout.split()[-1]
            for allowed in (cpus[:1], cpus)
        }
        assert len(digests) == 1, json.dumps(sorted(digests))
