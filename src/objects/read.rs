//! The read path: find the version, check the caller's key, unwrap the data key, and stream
//! only the chunks that cover the requested range, each authenticated before it is served.

use std::ops::Range;

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;

use super::{ByteStream, CustomerKey, ObjectError, ObjectService, Result};
use crate::catalog::{MetaChange, ObjectVersion, PartRecord};
use crate::crypto::{BlobCipher, CryptoError, DataKey, ObjectIdentity, Opener, SealHeader};
use crate::kms::Caller;

/// Decrypted pieces buffered between the reader task and the response.
const READ_AHEAD: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadRange {
    All,
    /// A validated, non-empty plaintext byte range.
    Bytes(u64, u64),
}

/// A version whose caller has shown the right key, ready to stream.
pub struct ObjectReader {
    pub version: ObjectVersion,
    pub parts: Vec<PartRecord>,
    svc: ObjectService,
    data_key: Option<DataKey>,
    /// Keeps the blobs from collection until the read is done.
    _hold: Option<super::reading::ReadHold>,
}

impl ObjectService {
    /// The latest (or named) version of a key; delete markers included, so the edge can
    /// answer as S3 does for them.
    pub async fn lookup(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<ObjectVersion> {
        Ok(self.catalog.version(bucket, key, version_id).await?)
    }

    /// Changes the tags or the ACL of a version (never a delete marker); nothing else of it
    /// changes. A replicated version's replica gets a tag change too.
    pub async fn set_meta(&self, v: &ObjectVersion, change: MetaChange) -> Result<()> {
        Ok(self
            .catalog
            .set_meta(&v.bucket, &v.key, &v.seal_id, change, self.now_ms())
            .await?)
    }

    /// Checks the caller's SSE-C key (if the version needs one) and prepares a reader.
    /// `decrypt` false skips unwrapping the data key (HEAD).
    pub async fn reader(
        &self,
        version: ObjectVersion,
        customer: Option<&CustomerKey>,
        caller: Option<&Caller>,
        decrypt: bool,
    ) -> Result<ObjectReader> {
        let mut version = version;
        let mut parts = self.catalog.parts(version.row).await?;
        if parts.is_empty() && !version.delete_marker && version.version_id == "null" {
            // The "null" version was replaced between the lookup and this read (every
            // stored version has a part): read its successor, as a later GET would.
            version = self
                .catalog
                .version(&version.bucket, &version.key, Some("null"))
                .await?;
            if version.delete_marker {
                return Err(crate::catalog::CatalogError::NoSuchKey.into());
            }
            parts = self.catalog.parts(version.row).await?;
        }
        let hold = decrypt.then(|| {
            self.reading
                .hold(parts.iter().map(|p| p.blob.clone()).collect())
        });
        let first_header = parts
            .first()
            .map(|p| p.header.as_slice())
            .unwrap_or_default();
        self.check_customer_key(version.sse.as_ref(), first_header, customer)?;
        let data_key = match (decrypt, parts.first()) {
            (true, Some(p)) => Some(
                self.unwrap_key(
                    &SealHeader::decode(&p.header)?.0.wrapped_key,
                    version.sse.as_ref(),
                    customer,
                    caller,
                    &version.bucket,
                    &version.key,
                )
                .await?,
            ),
            _ => None,
        };
        Ok(ObjectReader {
            version,
            parts,
            svc: self.clone(),
            data_key,
            _hold: hold,
        })
    }
}

impl ObjectReader {
    pub fn size(&self) -> u64 {
        self.version.size
    }

    /// The plaintext range of multipart part `n` (a single-part object has one part, 1).
    pub fn part_range(&self, n: u32) -> Option<Range<u64>> {
        if self.version.parts_count.is_none() {
            return (n == 1).then_some(0..self.version.size);
        }
        let mut start = 0;
        for p in &self.parts {
            if p.part_number == n {
                return Some(start..start + p.size);
            }
            start += p.size;
        }
        None
    }

    /// Streams plaintext `range`. The first piece is decrypted before this returns, so a
    /// missing or tampered blob becomes an error rather than a truncated response.
    pub async fn stream(self, range: ReadRange) -> Result<ByteStream> {
        let (start, end) = match range {
            ReadRange::All => (0, self.version.size),
            ReadRange::Bytes(s, e) => (s, e),
        };
        // An empty object is still read: its one empty chunk is authenticated.
        if start >= end && self.version.size > 0 {
            return Ok(futures::stream::empty().boxed());
        }
        let Some(data_key) = self.data_key.clone() else {
            return Err(ObjectError::Crypto(CryptoError::Malformed(
                "object has no data".into(),
            )));
        };
        let (tx, mut rx) = mpsc::channel(READ_AHEAD);
        tokio::spawn(async move {
            if let Err(e) = self.produce(&data_key, start, end, &tx).await {
                tracing::error!(bucket = %self.version.bucket, key = %self.version.key, error = %e, "read failed");
                let _ = tx.send(Err(e)).await;
            }
            // Its blobs are released before the stream ends, not after.
            drop(self);
            drop(tx);
        });
        let first = match rx.recv().await {
            Some(Ok(bytes)) => bytes,
            Some(Err(e)) => return Err(e),
            // The reader finished without a byte: an empty object, authenticated.
            None => return Ok(futures::stream::empty().boxed()),
        };
        let rest = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        Ok(futures::stream::once(async move { Ok(first) })
            .chain(rest)
            .boxed())
    }

    async fn produce(
        &self,
        data_key: &DataKey,
        start: u64,
        end: u64,
        tx: &mpsc::Sender<Result<Bytes>>,
    ) -> Result<()> {
        if self.version.size == 0 {
            return match self.parts.first() {
                Some(part) => self.produce_part(data_key, part, 0, 0, tx).await,
                None => Ok(()),
            };
        }
        let mut part_start = 0u64;
        for part in &self.parts {
            let part_end = part_start + part.size;
            let (lo, hi) = (start.max(part_start), end.min(part_end));
            if lo < hi {
                self.produce_part(data_key, part, lo - part_start, hi - part_start, tx)
                    .await?;
            }
            part_start = part_end;
            if part_start >= end {
                break;
            }
        }
        Ok(())
    }

    async fn produce_part(
        &self,
        data_key: &DataKey,
        part: &PartRecord,
        start: u64,
        end: u64,
        tx: &mpsc::Sender<Result<Bytes>>,
    ) -> Result<()> {
        let (header, _) = SealHeader::decode(&part.header)?;
        let identity = ObjectIdentity {
            bucket: &self.version.bucket,
            key: &self.version.key,
            version: &self.version.seal_id,
            part_number: part.part_number,
        };
        let cipher = BlobCipher::new(data_key, &header, &identity, self.svc.aead);
        let mut opener = Opener::new(cipher, &header, start, end);
        let span = opener.span();
        // A read from the first chunk also fetches the blob's own header and checks it
        // against the catalog's copy, so a damaged header is noticed, not just skipped.
        let header_len = part.header.len();
        let read_from = if span.first_chunk == 0 {
            0
        } else {
            span.blob_start
        };
        let mut header_seen = if read_from == 0 { 0 } else { header_len };
        let mut sealed = self
            .svc
            .blobs
            .read(&part.blob, read_from..span.blob_end)
            .await?;
        let mut out = Vec::new();
        while let Some(piece) = sealed.next().await {
            let piece = piece?;
            let mut piece = &piece[..];
            if header_seen < header_len {
                let n = piece.len().min(header_len - header_seen);
                if piece[..n] != part.header[header_seen..header_seen + n] {
                    return Err(ObjectError::Crypto(CryptoError::Authentication));
                }
                header_seen += n;
                piece = &piece[n..];
            }
            opener.update(piece, &mut out)?;
            if !out.is_empty()
                && tx
                    .send(Ok(Bytes::from(std::mem::take(&mut out))))
                    .await
                    .is_err()
            {
                return Ok(()); // the client went away
            }
        }
        opener.finish(&mut out)?;
        if !out.is_empty() {
            let _ = tx.send(Ok(Bytes::from(out))).await;
        }
        Ok(())
    }
}
