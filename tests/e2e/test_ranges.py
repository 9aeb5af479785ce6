"""Range GETs: explicit, open-ended and suffix ranges, across sealed-chunk and multipart-part
boundaries, and unsatisfiable ranges."""

import pytest

from helpers import CHUNK, MIN_PART, body_of, client_error, patterned, put_multipart, unique_bucket

SIZE = 4 * CHUNK + 123
DATA = patterned(SIZE, seed=7)


@pytest.fixture
def ranged(s3, bucket):
    s3.put_object(Bucket=bucket, Key="r", Body=DATA)
    return bucket


@pytest.mark.parametrize(
    "spec,start,end",
    [
        ("bytes=0-0", 0, 0),
        ("bytes=0-9", 0, 9),
        ("bytes=10-19", 10, 19),
        (f"bytes={CHUNK - 10}-{CHUNK + 9}", CHUNK - 10, CHUNK + 9),  # across one chunk boundary
        (f"bytes={CHUNK}-{CHUNK}", CHUNK, CHUNK),  # first byte of the second chunk
        (f"bytes={CHUNK - 1}-{CHUNK - 1}", CHUNK - 1, CHUNK - 1),  # last byte of the first chunk
        (f"bytes=5-{3 * CHUNK + 5}", 5, 3 * CHUNK + 5),  # spans four chunks
        (f"bytes={4 * CHUNK}-{SIZE - 1}", 4 * CHUNK, SIZE - 1),  # exactly the short last chunk
        (f"bytes={SIZE - 1}-{SIZE - 1}", SIZE - 1, SIZE - 1),  # last byte
        (f"bytes={CHUNK + 1}-", CHUNK + 1, SIZE - 1),  # open-ended
        ("bytes=-10", SIZE - 10, SIZE - 1),  # suffix
        (f"bytes=-{CHUNK + 1}", SIZE - CHUNK - 1, SIZE - 1),  # suffix across a boundary
        (f"bytes=100-{SIZE + 5000}", 100, SIZE - 1),  # end past the object is clamped
        (f"bytes=-{SIZE + 5000}", 0, SIZE - 1),  # suffix longer than the object
    ],
)
def test_range_get(s3, ranged, spec, start, end):
    g = s3.get_object(Bucket=ranged, Key="r", Range=spec)
    assert g["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert g["ContentRange"] == f"bytes {start}-{end}/{SIZE}"
    assert g["ContentLength"] == end - start + 1
    assert body_of(g) == DATA[start : end + 1]


@pytest.mark.parametrize("spec", [f"bytes={SIZE}-", f"bytes={SIZE + 10}-{SIZE + 20}"])
def test_unsatisfiable_range(s3, ranged, spec):
    with client_error(416, "InvalidRange"):
        s3.get_object(Bucket=ranged, Key="r", Range=spec)


def test_range_on_empty_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    with client_error(416, "InvalidRange"):
        s3.get_object(Bucket=bucket, Key="empty", Range="bytes=0-0")


def test_head_with_range(s3, ranged):
    h = s3.head_object(Bucket=ranged, Key="r", Range="bytes=10-19")
    assert h["ContentLength"] == 10
    assert h["ResponseMetadata"]["HTTPStatusCode"] == 206


def test_range_with_if_match(s3, ranged):
    etag = s3.head_object(Bucket=ranged, Key="r")["ETag"]
    g = s3.get_object(Bucket=ranged, Key="r", Range="bytes=0-3", IfMatch=etag)
    assert body_of(g) == DATA[:4]
    with client_error(412):
        s3.get_object(Bucket=ranged, Key="r", Range="bytes=0-3", IfMatch='"0000"')


# ---------------------------------------------------------------- multipart objects

PART1 = patterned(MIN_PART, seed=1)
PART2 = patterned(MIN_PART + 3, seed=2)
PART3 = patterned(1000, seed=3)
MP = PART1 + PART2 + PART3
B1 = len(PART1)
B2 = len(PART1) + len(PART2)


@pytest.fixture(scope="module")
def multipart_obj(s3):
    b = unique_bucket("ranges-mp")
    s3.create_bucket(Bucket=b)
    put_multipart(s3, b, "mp", [PART1, PART2, PART3])
    return b


@pytest.mark.parametrize(
    "start,end",
    [
        (B1 - 5, B1 + 4),  # across part 1 → 2
        (B1, B1),  # first byte of part 2
        (B1 - 1, B1 - 1),  # last byte of part 1
        (B2 - CHUNK - 3, B2 + 10),  # last chunks of part 2 into part 3
        (B1 - 2, B2 + 2),  # touches three parts
        (len(MP) - 10, len(MP) - 1),  # tail of the last part
    ],
)
def test_range_across_parts(s3, multipart_obj, start, end):
    g = s3.get_object(Bucket=multipart_obj, Key="mp", Range=f"bytes={start}-{end}")
    assert g["ContentRange"] == f"bytes {start}-{end}/{len(MP)}"
    assert body_of(g) == MP[start : end + 1]


def test_suffix_range_on_multipart(s3, multipart_obj):
    g = s3.get_object(Bucket=multipart_obj, Key="mp", Range="bytes=-1500")
    assert body_of(g) == MP[-1500:]
