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

fn seal(dk: &DataKey, header: &SealHeader, data: &[u8], backend: AeadBackend) -> Vec<u8> {
    let mut out = Vec::with_capacity(header.sealed_len() as usize);
    out.extend_from_slice(&header.encode());
    let mut s = Sealer::new(BlobCipher::new(dk, header, &ID, backend), header);
    // Requests arrive in pieces of a few tens of KiB.
    for piece in data.chunks(16 * 1024) {
        s.update(piece, &mut out).unwrap();
    }
    s.finish(&mut out).unwrap();
    out
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
                b.iter(|| seal(&dk, &header, data, backend))
            });
        }
    }
    g.finish();
}

fn opener(c: &mut Criterion) {
    let dk = DataKey::generate();
    let size = 64usize << 20;
    let header = SealHeader::new(size as u64, CHUNK as u32, wrapped());
    let blob = seal(&dk, &header, &vec![0x5a; size], AeadBackend::Ring);
    let mut g = c.benchmark_group("open");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(size as u64));
    for (name, backend) in BACKENDS {
        g.bench_function(BenchmarkId::new(name, "64MiB"), |b| {
            b.iter(|| {
                let mut o = Opener::new(
                    BlobCipher::new(&dk, &header, &ID, backend),
                    &header,
                    0,
                    size as u64,
                );
                let mut out = Vec::with_capacity(size);
                let span = o.span();
                o.update(
                    &blob[span.blob_start as usize..span.blob_end as usize],
                    &mut out,
                )
                .unwrap();
                o.finish(&mut out).unwrap();
                out
            })
        });
    }
    // A 64 KiB range from the middle: only the covering chunks are opened.
    let (start, end) = (
        size as u64 / 2 + 1000,
        size as u64 / 2 + 1000 + CHUNK as u64,
    );
    g.throughput(Throughput::Bytes(CHUNK as u64));
    g.sample_size(50);
    g.bench_function("ring/range-64KiB", |b| {
        b.iter(|| {
            let mut o = Opener::new(
                BlobCipher::new(&dk, &header, &ID, AeadBackend::Ring),
                &header,
                start,
                end,
            );
            let span = o.span();
            let mut out = Vec::new();
            o.update(
                &blob[span.blob_start as usize..span.blob_end as usize],
                &mut out,
            )
            .unwrap();
            o.finish(&mut out).unwrap();
            out
        })
    });
    g.finish();
}

criterion_group!(benches, raw_aead, sealer, opener);
criterion_main!(benches);
