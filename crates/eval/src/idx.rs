//! The IDX format of MNIST and Fashion-MNIST: a big-endian header (two zero bytes, a type byte,
//! the number of dimensions, then each dimension as a u32) followed by the raw values. Files may
//! be gzipped; the gzip magic decides.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// An IDX array of unsigned bytes (the only element type MNIST-style datasets use).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// The dimensions, outermost first.
    pub dims: Vec<usize>,
    /// The values in row-major order.
    pub data: Vec<u8>,
}

/// Reads an IDX file of u8 values, gzipped or raw.
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let raw = std::fs::read(path).map_err(|error| Error::Io { path: path.to_path_buf(), error })?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| Error::format(path, format!("corrupt gzip stream: {e}")))?;
        out
    } else {
        raw
    };
    parse_idx(&bytes, path)
}

/// Parses IDX bytes that came from `origin`.
pub fn parse_idx(bytes: &[u8], origin: &Path) -> Result<IdxArray> {
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err(Error::format(
            origin,
            "not an IDX file: expected a header starting with two zero bytes",
        ));
    }
    let (kind, n_dims) = (bytes[2], bytes[3] as usize);
    if kind != 0x08 {
        return Err(Error::format(
            origin,
            format!(
                "IDX element type 0x{kind:02x} is not supported; expected 0x08 (unsigned byte)"
            ),
        ));
    }
    if n_dims == 0 {
        return Err(Error::format(origin, "IDX header declares zero dimensions"));
    }
    let header_len = 4 + 4 * n_dims;
    if bytes.len() < header_len {
        return Err(Error::format(
            origin,
            format!("IDX header is truncated: {n_dims} dimensions need {header_len} bytes"),
        ));
    }
    let dims: Vec<usize> = (0..n_dims)
        .map(|i| {
            let o = 4 + 4 * i;
            u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
        })
        .collect();
    let expected = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let Some(expected) = expected else {
        return Err(Error::format(origin, format!("IDX dimensions {dims:?} overflow")));
    };
    let body = &bytes[header_len..];
    if body.len() != expected {
        return Err(Error::format(
            origin,
            format!(
                "IDX dimensions {dims:?} need {expected} bytes of data, the file has {}",
                body.len()
            ),
        ));
    }
    Ok(IdxArray { dims, data: body.to_vec() })
}

/// Serialises an IDX array (uncompressed).
pub fn idx_bytes(array: &IdxArray) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, array.dims.len() as u8];
    for d in &array.dims {
        out.extend_from_slice(&(*d as u32).to_be_bytes());
    }
    out.extend_from_slice(&array.data);
    out
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn round_trip_raw_and_gzipped() {
        let a = IdxArray { dims: vec![2, 2, 3], data: (0..12).collect() };
        let bytes = idx_bytes(&a);
        // Header by hand: 00 00 08 03, then 2, 2, 3 as big-endian u32.
        assert_eq!(&bytes[..16], &[0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3]);
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("a.idx");
        std::fs::write(&raw, &bytes).unwrap();
        assert_eq!(read_idx(&raw).unwrap(), a);
        let gz = dir.path().join("a.idx.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&bytes).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        assert_eq!(read_idx(&gz).unwrap(), a);
    }

    #[test]
    fn bad_headers_say_what_was_expected() {
        let check = |bytes: &[u8], expected: &str| {
            let err = parse_idx(bytes, Path::new("x.idx")).unwrap_err().to_string();
            assert!(err.starts_with("x.idx: "), "{err}");
            assert!(err.contains(expected), "{err} lacks {expected}");
        };
        check(b"PK\x03\x04", "expected a header starting with two zero bytes");
        check(&[0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0], "element type 0x0d is not supported");
        check(&[0, 0, 8, 2, 0, 0, 0, 1], "header is truncated");
        check(&[0, 0, 8, 1, 0, 0, 0, 3, 1, 2], "need 3 bytes of data, the file has 2");
        check(&[0, 0, 8, 0], "zero dimensions");
    }
}
