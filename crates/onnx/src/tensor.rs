//! ONNX tensors as plain host values: every floating type as `f32`, every integer and boolean
//! type as `i64`, with their data read from any of the places ONNX allows (typed fields,
//! `raw_data`, or an external file next to the model).

use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};
use crate::proto::{TensorProto, data_type};

/// The values of a tensor.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    /// float32, float16, bfloat16 and float64 tensors, converted to f32.
    F32(Vec<f32>),
    /// Integer and boolean tensors, converted to i64.
    I64(Vec<i64>),
}

impl Values {
    /// The number of elements.
    pub fn len(&self) -> usize {
        match self {
            Values::F32(v) => v.len(),
            Values::I64(v) => v.len(),
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as f32 (integers converted).
    pub fn to_f32(&self) -> Vec<f32> {
        match self {
            Values::F32(v) => v.clone(),
            Values::I64(v) => v.iter().map(|&x| x as f32).collect(),
        }
    }

    /// The values as i64 (floats truncated toward zero).
    pub fn to_i64(&self) -> Vec<i64> {
        match self {
            Values::F32(v) => v.iter().map(|&x| x as i64).collect(),
            Values::I64(v) => v.clone(),
        }
    }
}

/// A decoded tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct HostTensor {
    /// The name (empty for an unnamed attribute tensor).
    pub name: String,
    /// The shape.
    pub dims: Vec<usize>,
    /// The ONNX data type it was stored as (`proto::data_type`).
    pub data_type: i32,
    /// The values, row-major.
    pub values: Values,
}

impl HostTensor {
    /// The number of elements the shape holds.
    pub fn numel(&self) -> usize {
        self.dims.iter().product()
    }
}

/// Bytes per element of the types stored as raw little-endian bytes.
fn element_size(t: i32) -> Option<usize> {
    Some(match t {
        data_type::FLOAT | data_type::INT32 | data_type::UINT32 => 4,
        data_type::DOUBLE | data_type::INT64 | data_type::UINT64 => 8,
        data_type::FLOAT16 | data_type::BFLOAT16 | data_type::INT16 | data_type::UINT16 => 2,
        data_type::INT8 | data_type::UINT8 | data_type::BOOL => 1,
        _ => return None,
    })
}

fn from_le_bytes(t: i32, bytes: &[u8]) -> Values {
    let chunks = |n: usize| bytes.chunks_exact(n);
    match t {
        data_type::FLOAT => {
            Values::F32(chunks(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
        }
        data_type::DOUBLE => Values::F32(
            chunks(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32).collect(),
        ),
        data_type::FLOAT16 => Values::F32(
            chunks(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        ),
        data_type::BFLOAT16 => Values::F32(
            chunks(2).map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        ),
        data_type::INT64 => Values::I64(
            chunks(8).map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect(),
        ),
        data_type::UINT64 => Values::I64(
            chunks(8).map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as i64).collect(),
        ),
        data_type::INT32 => Values::I64(
            chunks(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64).collect(),
        ),
        data_type::UINT32 => Values::I64(
            chunks(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64).collect(),
        ),
        data_type::INT16 => {
            Values::I64(chunks(2).map(|c| i16::from_le_bytes([c[0], c[1]]) as i64).collect())
        }
        data_type::UINT16 => {
            Values::I64(chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]]) as i64).collect())
        }
        data_type::INT8 => Values::I64(bytes.iter().map(|&b| b as i8 as i64).collect()),
        _ => Values::I64(bytes.iter().map(|&b| b as i64).collect()),
    }
}

/// Resolves an external-data location against the model's folder, refusing absolute paths and
/// paths that leave the folder (a model must not make sculpt read files elsewhere).
pub(crate) fn external_path(base: &Path, location: &str) -> std::result::Result<PathBuf, String> {
    let rel = Path::new(location);
    if rel.is_absolute()
        || rel.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(format!(
            "external data location `{location}` is not a path inside the model's folder"
        ));
    }
    let path = base.join(rel);
    // A symbolic link inside the folder may still point outside it.
    if let (Ok(real), Ok(real_base)) = (path.canonicalize(), base.canonicalize())
        && !real.starts_with(&real_base)
    {
        return Err(format!("external data `{location}` resolves outside the model's folder"));
    }
    Ok(path)
}

/// Decodes a tensor of the model at `model_path`; external data is read from the model's
/// folder.
pub fn decode(t: &TensorProto, model_path: &Path) -> Result<HostTensor> {
    let name = t.name.clone().unwrap_or_default();
    let bad =
        |msg: String| Error::Tensor { path: model_path.to_path_buf(), tensor: name.clone(), msg };
    let dtype = t.data_type.unwrap_or(0);
    let mut dims = Vec::with_capacity(t.dims.len());
    for &d in &t.dims {
        if d < 0 {
            return Err(bad(format!("negative dimension {d} in {:?}", t.dims)));
        }
        dims.push(d as usize);
    }
    let numel = dims
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| bad("too many elements".into()))?;
    let values = if t.data_location == Some(1) || !t.external_data.is_empty() {
        let entry = |key: &str| {
            t.external_data
                .iter()
                .find(|e| e.key.as_deref() == Some(key))
                .and_then(|e| e.value.clone())
        };
        let location =
            entry("location").ok_or_else(|| bad("external data without a location".into()))?;
        let base = model_path.parent().unwrap_or(Path::new("."));
        let path = external_path(base, &location).map_err(bad)?;
        let offset: u64 = entry("offset")
            .map(|v| v.parse().map_err(|_| bad(format!("offset `{v}` is not a number"))))
            .transpose()?
            .unwrap_or(0);
        let size = element_size(dtype).ok_or_else(|| {
            bad(format!("{} cannot be stored externally here", data_type::name(dtype)))
        })?;
        let want = (numel * size) as u64;
        let length: u64 = entry("length")
            .map(|v| v.parse().map_err(|_| bad(format!("length `{v}` is not a number"))))
            .transpose()?
            .unwrap_or(want);
        if length != want {
            return Err(bad(format!(
                "external length {length} bytes, the shape {dims:?} needs {want}"
            )));
        }
        let bytes = read_range(&path, offset, length).map_err(|e| match e {
            RangeError::Io(error) => Error::Io { path: path.clone(), error },
            RangeError::Short(have) => bad(format!(
                "{} holds {have} bytes, the tensor needs bytes {offset}..{}",
                path.display(),
                offset + length
            )),
        })?;
        from_le_bytes(dtype, &bytes)
    } else if let Some(raw) = &t.raw_data {
        let size = element_size(dtype)
            .ok_or_else(|| bad(format!("{} is not supported", data_type::name(dtype))))?;
        if raw.len() != numel * size {
            return Err(bad(format!(
                "raw data holds {} bytes, the shape {dims:?} needs {}",
                raw.len(),
                numel * size
            )));
        }
        from_le_bytes(dtype, raw)
    } else {
        match dtype {
            data_type::FLOAT => Values::F32(t.float_data.clone()),
            data_type::DOUBLE => Values::F32(t.double_data.iter().map(|&v| v as f32).collect()),
            // float16 and bfloat16 keep their bits in the low half of int32_data.
            data_type::FLOAT16 => Values::F32(
                t.int32_data.iter().map(|&v| half::f16::from_bits(v as u16).to_f32()).collect(),
            ),
            data_type::BFLOAT16 => Values::F32(
                t.int32_data.iter().map(|&v| half::bf16::from_bits(v as u16).to_f32()).collect(),
            ),
            data_type::INT64 => Values::I64(t.int64_data.clone()),
            data_type::UINT64 | data_type::UINT32 => {
                Values::I64(t.uint64_data.iter().map(|&v| v as i64).collect())
            }
            data_type::INT32
            | data_type::INT16
            | data_type::INT8
            | data_type::UINT16
            | data_type::UINT8
            | data_type::BOOL => Values::I64(t.int32_data.iter().map(|&v| v as i64).collect()),
            other => {
                return Err(bad(format!("{} tensors are not supported", data_type::name(other))));
            }
        }
    };
    if values.len() != numel {
        return Err(bad(format!(
            "holds {} values, the shape {dims:?} needs {numel}",
            values.len()
        )));
    }
    Ok(HostTensor { name, dims, data_type: dtype, values })
}

enum RangeError {
    Io(std::io::Error),
    Short(u64),
}

fn read_range(path: &Path, offset: u64, length: u64) -> std::result::Result<Vec<u8>, RangeError> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).map_err(RangeError::Io)?;
    let have = file.metadata().map_err(RangeError::Io)?.len();
    if offset.checked_add(length).is_none_or(|end| end > have) {
        return Err(RangeError::Short(have));
    }
    file.seek(SeekFrom::Start(offset)).map_err(RangeError::Io)?;
    let mut bytes = vec![0u8; length as usize];
    file.read_exact(&mut bytes).map_err(RangeError::Io)?;
    Ok(bytes)
}

/// A tensor of `values` named `name` with shape `dims`, stored as raw float32 or int64 bytes.
pub fn encode(name: &str, dims: &[usize], values: &Values) -> TensorProto {
    let (data_type, raw) = match values {
        Values::F32(v) => (data_type::FLOAT, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        Values::I64(v) => (data_type::INT64, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
    };
    TensorProto {
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: Some(data_type),
        name: Some(name.to_string()),
        raw_data: Some(raw),
        ..TensorProto::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_storage_of_the_same_values_decodes_alike() {
        let path = Path::new("m.onnx");
        let typed = TensorProto {
            dims: vec![2],
            data_type: Some(data_type::FLOAT),
            float_data: vec![1.5, -2.0],
            ..TensorProto::default()
        };
        let raw = encode("x", &[2], &Values::F32(vec![1.5, -2.0]));
        assert_eq!(decode(&typed, path).unwrap().values, Values::F32(vec![1.5, -2.0]));
        assert_eq!(decode(&raw, path).unwrap().values, Values::F32(vec![1.5, -2.0]));
        // float16 in int32_data: 1.5 = 0x3E00, -2 = 0xC000.
        let f16 = TensorProto {
            dims: vec![2],
            data_type: Some(data_type::FLOAT16),
            int32_data: vec![0x3E00, 0xC000],
            ..TensorProto::default()
        };
        assert_eq!(decode(&f16, path).unwrap().values, Values::F32(vec![1.5, -2.0]));
        // bfloat16 raw: 1.5 = 0x3FC0.
        let bf16 = TensorProto {
            dims: vec![1],
            data_type: Some(data_type::BFLOAT16),
            raw_data: Some(vec![0xC0, 0x3F]),
            ..TensorProto::default()
        };
        assert_eq!(decode(&bf16, path).unwrap().values, Values::F32(vec![1.5]));
    }

    #[test]
    fn a_short_or_misshapen_tensor_is_an_error_naming_it() {
        let t = TensorProto {
            dims: vec![3],
            data_type: Some(data_type::FLOAT),
            raw_data: Some(vec![0; 8]),
            name: Some("w".into()),
            ..TensorProto::default()
        };
        let err = decode(&t, Path::new("m.onnx")).unwrap_err().to_string();
        assert_eq!(err, "m.onnx: tensor `w`: raw data holds 8 bytes, the shape [3] needs 12");
    }

    #[test]
    fn external_data_stays_inside_the_model_folder() {
        let base = Path::new("/models/x");
        assert!(external_path(base, "weights.bin").is_ok());
        assert!(external_path(base, "sub/weights.bin").is_ok());
        assert!(external_path(base, "../secret").is_err());
        assert!(external_path(base, "/etc/passwd").is_err());
    }
}
