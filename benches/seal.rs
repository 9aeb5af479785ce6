//! Seal/open throughput of the sealed format against the raw AES-256-GCM limit of each
//! implementation. `cargo bench --bench seal`; figures in BENCHMARKS.md.
//!
//! The gateway never holds an object in memory: a PUT's body reaches the sealer in pieces
//! the kernel has just copied off the socket, and a GET's blob reaches the opener in 1 MiB
//! pieces `pread` has just filled. So the object rows copy each stretch of input into a
//! reused buffer untimed, as the kernel would, and time only what the gateway does with it.
//! The `in_memory` rows instead feed straight from one array far larger than the cache;
//! they show what reading input from DRAM adds.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test or benchmark fails by panicking"
)]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sealgate::blobstore::{self, LOCAL_PART_SIZE, WRITE_CONCURRENCY};
use sealgate::crypto::{
    AeadBackend, BlobCipher, DataKey, ObjectIdentity, Opener, SealHeader, Sealer, WrappedKey,
    Wrapping,
};
use sealgate::objects::FLUSH_AT;

/// The gateway's allocator (`src/main.rs`).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const CHUNK: usize = 64 * 1024;
/// Request body pieces, and the socket reads they come from.
const BODY_PIECE: usize = 16 * 1024;
const SOCKET_READ: usize = 512 * 1024;
/// Sealed bytes the blob writer holds before they are written: a part being filled and
/// the parts in flight.
const WRITER_HOLDS: usize = (WRITE_CONCURRENCY + 1) * LOCAL_PART_SIZE;
const READ_PIECE: usize = blobstore::READ_PIECE as usize;
const MIB: usize = 1 << 20;
const GIB: usize = 1 << 30;

/// The large object: 1 GiB when benchmarking. `cargo test` runs each benchmark once in a
/// debug build, where 1 GiB takes minutes; it checks the same paths with 8 MiB.
fn large() -> usize {
    if std::env::args().any(|a| a == "--bench") {
        GIB
    } else {
        8 * MIB
    }
}

const ID: ObjectIdentity<'static> = ObjectIdentity {
    bucket: "bench",
    key: "object",
    version: "v",
    part_number: 0,
};
const BACKENDS: [(&str, AeadBackend); 2] = [
    ("ring", AeadBackend::Ring),
    ("rustcrypto", AeadBackend::RustCrypto),
];

fn wrapped() -> WrappedKey {
    WrappedKey {
        wrapping: Wrapping::SseS3 {
            master_key_id: "bench".into(),
        },
        ciphertext: vec![0; 60],
    }
}

fn header(size: usize) -> SealHeader {
    SealHeader::new(size as u64, CHUNK as u32, wrapped())
}

fn sealer(dk: &DataKey, header: &SealHeader, backend: AeadBackend) -> Sealer {
    Sealer::new(BlobCipher::new(dk, header, &ID, backend), header, FLUSH_AT)
}

fn opener(dk: &DataKey, header: &SealHeader, range: (u64, u64), backend: AeadBackend) -> Opener {
    Opener::new(
        BlobCipher::new(dk, header, &ID, backend),
        header,
        range.0,
        range.1,
    )
}

/// Stands in for the blob writer: sealed batches stay alive until it would have written
/// them, so the sealer's buffers are not simply reused while still in cache.
#[derive(Default)]
struct Writer {
    held: VecDeque<Vec<u8>>,
    held_len: usize,
    written: usize,
}

impl Writer {
    fn write(&mut self, sealed: Vec<u8>) {
        self.held_len += sealed.len();
        self.held.push_back(sealed);
        while self.held_len > WRITER_HOLDS {
            let done = self.held.pop_front().unwrap();
            self.held_len -= done.len();
            self.written += done.len();
        }
    }
}

/// Feeds body pieces in and passes sealed batches on, as `seal_blob` does.
fn seal_pieces(s: &mut Sealer, w: &mut Writer, input: &[u8]) {
    for piece in input.chunks(BODY_PIECE) {
        s.update(piece).unwrap();
        while let Some(sealed) = s.take_sealed() {
            w.write(sealed);
        }
    }
}

/// Opens one read piece into a fresh output, as `produce_part` does.
fn open_piece(o: &mut Opener, piece: &[u8]) -> usize {
    let mut out = Vec::new();
    o.update(piece, &mut out).unwrap();
    out.len()
}

/// Times `work` over `input` in `stretch`-byte pieces, each first copied into a reused
/// buffer untimed, as the kernel delivers it.
fn timed_deliveries(input: &[u8], stretch: usize, mut work: impl FnMut(&[u8])) -> Duration {
    let mut buf = vec![0u8; stretch];
    let mut spent = Duration::ZERO;
    for piece in input.chunks(stretch) {
        let buf = &mut buf[..piece.len()];
        buf.copy_from_slice(piece);
        let t = Instant::now();
        work(buf);
        spent += t.elapsed();
    }
    spent
}

fn seal_whole(dk: &DataKey, header: &SealHeader, data: &[u8]) -> Vec<u8> {
    let mut blob = header.encode();
    let mut s = Sealer::new(
        BlobCipher::new(dk, header, &ID, AeadBackend::Ring),
        header,
        0,
    );
    s.update(data).unwrap();
    while let Some(sealed) = s.take_sealed() {
        blob.extend_from_slice(&sealed);
    }
    blob.extend_from_slice(&s.finish().unwrap());
    blob
}

fn raw_aead(c: &mut Criterion) {
    let mut g = c.benchmark_group("aes256gcm_raw_64k");
    g.throughput(Throughput::Bytes(CHUNK as u64));
    for (name, backend) in BACKENDS {
        let aead = backend.cipher(&[7; 32]);
        let mut buf = Vec::with_capacity(CHUNK + 16);
        g.bench_function(name, |b| {
            b.iter(|| {
                buf.clear();
                buf.resize(CHUNK, 1);
                aead.seal_in_place(&[0; 12], &[0; 32], &mut buf);
            })
        });
    }
    g.finish();
}

fn seal(c: &mut Criterion) {
    let dk = DataKey::generate();
    let mut g = c.benchmark_group("seal");
    for size in [MIB, large()] {
        let data = vec![0x5a; size];
        let header = header(size);
        g.throughput(Throughput::Bytes(size as u64));
        g.sample_size(if size > MIB { 10 } else { 50 });
        for (name, backend) in BACKENDS {
            g.bench_with_input(BenchmarkId::new(name, size), &data, |b, data| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| {
                            let mut s = sealer(&dk, &header, backend);
                            let mut w = Writer::default();
                            let spent = timed_deliveries(data, SOCKET_READ, |read| {
                                seal_pieces(&mut s, &mut w, read);
                            });
                            let t = Instant::now();
                            w.write(s.finish().unwrap());
                            spent + t.elapsed()
                        })
                        .sum()
                })
            });
        }
    }
    g.finish();
}

fn open(c: &mut Criterion) {
    let dk = DataKey::generate();
    let mut g = c.benchmark_group("open");
    for size in [MIB, large()] {
        let header = header(size);
        let blob = seal_whole(&dk, &header, &vec![0x5a; size]);
        let body = &blob[header.encoded_len()..];
        g.throughput(Throughput::Bytes(size as u64));
        g.sample_size(if size > MIB { 10 } else { 50 });
        for (name, backend) in BACKENDS {
            g.bench_function(BenchmarkId::new(name, size), |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| {
                            let mut o = opener(&dk, &header, (0, size as u64), backend);
                            let spent = timed_deliveries(body, READ_PIECE, |piece| {
                                open_piece(&mut o, piece);
                            });
                            o.finish(&mut Vec::new()).unwrap();
                            spent
                        })
                        .sum()
                })
            });
        }
    }
    // A 64 KiB range from the middle of 1 GiB: only the two covering chunks are opened.
    let size = large();
    let header = header(size);
    let blob = seal_whole(&dk, &header, &vec![0x5a; size]);
    let range = (
        size as u64 / 2 + 1000,
        size as u64 / 2 + 1000 + CHUNK as u64,
    );
    g.throughput(Throughput::Bytes(CHUNK as u64));
    g.sample_size(50);
    for (name, backend) in BACKENDS {
        g.bench_function(BenchmarkId::new(name, "range-64KiB"), |b| {
            b.iter(|| {
                let mut o = opener(&dk, &header, range, backend);
                let span = o.span();
                let n = open_piece(
                    &mut o,
                    &blob[span.blob_start as usize..span.blob_end as usize],
                );
                o.finish(&mut Vec::new()).unwrap();
                n
            })
        });
    }
    g.finish();
}

/// Input straight from a 64 MiB array: bound by DRAM, not by the cipher.
fn in_memory(c: &mut Criterion) {
    let dk = DataKey::generate();
    let size = 64 * MIB;
    let header = header(size);
    let data = vec![0x5a; size];
    let blob = seal_whole(&dk, &header, &data);
    let mut g = c.benchmark_group("in_memory");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(size as u64));
    g.bench_function("seal/ring/64MiB", |b| {
        b.iter(|| {
            let mut s = sealer(&dk, &header, AeadBackend::Ring);
            let mut w = Writer::default();
            seal_pieces(&mut s, &mut w, &data);
            w.write(s.finish().unwrap());
            w
        })
    });
    g.bench_function("open/ring/64MiB", |b| {
        b.iter(|| {
            let mut o = opener(&dk, &header, (0, size as u64), AeadBackend::Ring);
            let n: usize = blob[header.encoded_len()..]
                .chunks(READ_PIECE)
                .map(|piece| open_piece(&mut o, piece))
                .sum();
            o.finish(&mut Vec::new()).unwrap();
            n
        })
    });
    g.finish();
}

criterion_group!(benches, raw_aead, seal, open, in_memory);
criterion_main!(benches);
