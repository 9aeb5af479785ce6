//! The CRC of concatenated data from the CRCs of its pieces and their lengths, without the
//! data: a multipart upload's FULL_OBJECT checksum comes from the checksums its parts got
//! as they streamed in. zlib's `crc32_combine`, for any reflected CRC whose initial value
//! and final XOR are both all ones (CRC-32, CRC-32C and CRC-64/NVME are).
//!
//! With those parameters crc(A‖B) = crc(A)·x^(8·|B|) ⊕ crc(B) over GF(2) modulo the
//! polynomial: the all-ones terms cancel. Multiplying by x^(8·|B|) takes the square-and-
//! multiply of x^8, so the cost follows log |B|, not |B|.

/// A reflected CRC of `width` bits: bit `width - 1` holds the coefficient of x^0.
#[derive(Debug, Clone, Copy)]
pub(super) struct Crc {
    /// The reflected polynomial, without its x^width term.
    poly: u64,
    width: u32,
}

pub(super) const CRC32: Crc = Crc {
    poly: 0xEDB8_8320,
    width: 32,
};
pub(super) const CRC32C: Crc = Crc {
    poly: 0x82F6_3B78,
    width: 32,
};
pub(super) const CRC64_NVME: Crc = Crc {
    poly: 0x9A6C_9329_AC4B_C9B5,
    width: 64,
};

impl Crc {
    /// a·b modulo the polynomial.
    fn multiply(self, a: u64, mut b: u64) -> u64 {
        let mut m = 1u64 << (self.width - 1);
        let mut product = 0;
        while m != 0 {
            if a & m != 0 {
                product ^= b;
                if a & (m - 1) == 0 {
                    break;
                }
            }
            m >>= 1;
            b = if b & 1 != 0 {
                (b >> 1) ^ self.poly
            } else {
                b >> 1
            };
        }
        product
    }

    /// x^(8·len) modulo the polynomial.
    fn shift_bytes(self, mut len: u64) -> u64 {
        let mut power = 1u64 << (self.width - 1);
        // x^8, then its successive squares x^16, x^32...
        let mut square = 1u64 << (self.width - 1 - 8);
        while len != 0 {
            if len & 1 != 0 {
                power = self.multiply(square, power);
            }
            square = self.multiply(square, square);
            len >>= 1;
        }
        power
    }

    /// The CRC of A‖B from crc(A), crc(B) and the length of B in bytes.
    pub(super) fn combine(self, crc_a: u64, crc_b: u64, len_b: u64) -> u64 {
        self.multiply(self.shift_bytes(len_b), crc_a) ^ crc_b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::ChecksumAlgorithm;
    use crate::objects::digest::{Digests, b64_decode};

    fn crc_of(alg: ChecksumAlgorithm, data: &[u8]) -> u64 {
        let mut d = Digests::new(false, Some(alg));
        d.update(data);
        let (_, value) = d.finish().checksum.unwrap();
        b64_decode(&value)
            .unwrap()
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
    }

    /// Combining the CRCs of pieces gives the CRC computed over the whole data, for pieces
    /// of every shape: empty, one byte, odd lengths, and lengths past a power of two.
    #[test]
    fn combined_crcs_equal_the_crc_of_the_whole() {
        let data: Vec<u8> = (0..70_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let cuts: &[&[usize]] = &[
            &[0],
            &[1],
            &[4096, 65_536],
            &[3, 5, 7, 11, 65_537],
            &[35_000],
            &[70_000],
        ];
        for (alg, crc) in [
            (ChecksumAlgorithm::Crc32, CRC32),
            (ChecksumAlgorithm::Crc32c, CRC32C),
            (ChecksumAlgorithm::Crc64Nvme, CRC64_NVME),
        ] {
            for cut in cuts {
                let mut bounds = vec![0];
                bounds.extend(cut.iter().copied());
                bounds.push(data.len());
                let mut combined = None;
                for w in bounds.windows(2) {
                    let piece = &data[w[0]..w[1]];
                    let c = crc_of(alg, piece);
                    combined = Some(match combined {
                        None => c,
                        Some(acc) => crc.combine(acc, c, piece.len() as u64),
                    });
                }
                assert_eq!(combined, Some(crc_of(alg, &data)), "{alg:?} cut at {cut:?}");
            }
        }
    }

    #[test]
    fn known_values() {
        // The check values of the three CRCs ("123456789"), split and combined.
        let (a, b) = (b"1234".as_slice(), b"56789".as_slice());
        for (alg, crc, check) in [
            (ChecksumAlgorithm::Crc32, CRC32, 0xCBF4_3926),
            (ChecksumAlgorithm::Crc32c, CRC32C, 0xE306_9283),
            (
                ChecksumAlgorithm::Crc64Nvme,
                CRC64_NVME,
                0xAE8B_1486_0A79_9888,
            ),
        ] {
            assert_eq!(crc_of(alg, b"123456789"), check, "{alg:?}");
            assert_eq!(
                crc.combine(crc_of(alg, a), crc_of(alg, b), b.len() as u64),
                check,
                "{alg:?}"
            );
        }
    }
}
