//! Seal/open throughput of the sealed format against the raw AES-256-GCM limit of each
//! implementation. `cargo bench --bench seal`; figures in BENCHMARKS.md.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sealgate::crypto::{
    AeadBackend, BlobCipher, DataKey, ObjectIdentity, Opener, SealHeader, Sealer, WrappedKey,
    Wrapping,
};

const CHUNK: usize = 64 * 1024;
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

/// Seals as the write path does: request pieces in, sealed bytes handed on every 1 MiB.
fn seal_streaming(dk: &DataKey, header: &SealHeader, data: &[u8], backend: AeadBackend) -> usize {
    let mut written = header.encode().len();
    let mut s = Sealer::new(BlobCipher::new(dk, header, &ID, backend), header);
    for piece in data.chunks(16 * 1024) {
        s.update(piece).unwrap();
        if let Some(sealed) = s.take_sealed(1 << 20) {
            written += sealed.len();
        }
    }
    written + s.finish().unwrap().len()
}

fn seal_whole(dk: &DataKey, header: &SealHeader, data: &[u8]) -> Vec<u8> {
    let mut blob = Vec::with_capacity(header.sealed_len() as usize);
    blob.extend_from_slice(&header.encode());
    let mut s = Sealer::new(BlobCipher::new(dk, header, &ID, AeadBackend::Ring), header);
    s.update(data).unwrap();
    blob.extend_from_slice(&s.finish().unwrap());
    blob
}

/// Opens as the read path does: blob pieces in, plaintext handed on as it appears.
fn open_streaming(
    dk: &DataKey,
    header: &SealHeader,
    blob: &[u8],
    range: (u64, u64),
    backend: AeadBackend,
) -> usize {
    let mut o = Opener::new(
        BlobCipher::new(dk, header, &ID, backend),
        header,
        range.0,
        range.1,
    );
    let span = o.span();
    let mut out = Vec::with_capacity(256 * 1024);
    let mut total = 0;
    for piece in blob[span.blob_start as usize..span.blob_end as usize].chunks(128 * 1024) {
        o.update(piece, &mut out).unwrap();
        total += out.len();
        out.clear();
    }
    o.finish(&mut out).unwrap();
    total
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

fn sealer(c: &mut Criterion) {
    let dk = DataKey::generate();
    let mut g = c.benchmark_group("seal");
    for size in [1usize << 20, 64 << 20] {
        let data = vec![0x5a; size];
        let header = SealHeader::new(size as u64, CHUNK as u32, wrapped());
        g.throughput(Throughput::Bytes(size as u64));
        g.sample_size(if size > 1 << 20 { 10 } else { 50 });
        for (name, backend) in BACKENDS {
            g.bench_with_input(BenchmarkId::new(name, size), &data, |b, data| {
                b.iter(|| seal_streaming(&dk, &header, data, backend))
            });
        }
    }
    g.finish();
}

fn opener(c: &mut Criterion) {
    let dk = DataKey::generate();
    let size = 64usize << 20;
    let header = SealHeader::new(size as u64, CHUNK as u32, wrapped());
    let blob = seal_whole(&dk, &header, &vec![0x5a; size]);
    let mut g = c.benchmark_group("open");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(size as u64));
    for (name, backend) in BACKENDS {
        g.bench_function(BenchmarkId::new(name, "64MiB"), |b| {
            b.iter(|| open_streaming(&dk, &header, &blob, (0, size as u64), backend))
        });
    }
    // A 64 KiB range from the middle: only the covering chunks are opened.
    let range = (
        size as u64 / 2 + 1000,
        size as u64 / 2 + 1000 + CHUNK as u64,
    );
    g.throughput(Throughput::Bytes(CHUNK as u64));
    g.sample_size(50);
    for (name, backend) in BACKENDS {
        g.bench_function(BenchmarkId::new(name, "range-64KiB"), |b| {
            b.iter(|| open_streaming(&dk, &header, &blob, range, backend))
        });
    }
    g.finish();
}

criterion_group!(benches, raw_aead, sealer, opener);
criterion_main!(benches);
