//! Reading CBOR as the ecosystem sends it, into the few value kinds messages carry, with every
//! limit checked before it costs memory.

use std::collections::BTreeMap;

use minicbor::Decoder;
use minicbor::data::Type;

use super::*;

/// What writing CBOR into a `Vec` answers (it cannot fail).
pub(super) type EncResult = Result<(), minicbor::encode::Error<std::convert::Infallible>>;

pub(super) fn malformed(e: minicbor::decode::Error) -> WireError {
    WireError::Malformed(e.to_string())
}

/// A decoded CBOR value, restricted to what messages carry.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Text(String),
    Bytes(Vec<u8>),
    Uint(u64),
    Bool(bool),
    Array(Vec<Value>),
    Map(BTreeMap<String, Value>),
    /// Anything else (negative or fractional numbers, null, undefined, nested maps with non-text
    /// keys …): kept only so that unknown keys can be ignored.
    Opaque,
}

/// Nesting deeper than this is refused (messages nest three levels at most).
pub(super) const MAX_DEPTH: u32 = 8;

pub(super) fn read_value(d: &mut Decoder<'_>, depth: u32) -> Result<Value, WireError> {
    if depth > MAX_DEPTH {
        return Err(WireError::Malformed("nesting too deep".into()));
    }
    let ty = d.datatype().map_err(malformed)?;
    Ok(match ty {
        Type::Tag => {
            d.tag().map_err(malformed)?;
            return read_value(d, depth + 1);
        }
        Type::String | Type::StringIndef => {
            let mut s = String::new();
            for part in d.str_iter().map_err(malformed)? {
                s.push_str(part.map_err(malformed)?);
                if s.len() > MAX_TEXT_BYTES {
                    return Err(WireError::Malformed("text value too long".into()));
                }
            }
            Value::Text(s)
        }
        Type::Bytes | Type::BytesIndef => {
            let mut b = Vec::new();
            for part in d.bytes_iter().map_err(malformed)? {
                b.extend_from_slice(part.map_err(malformed)?);
            }
            Value::Bytes(b)
        }
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => Value::Uint(d.u64().map_err(malformed)?),
        Type::F16 | Type::F32 | Type::F64 => {
            let f = d.f64().map_err(malformed)?;
            // JavaScript encoders may send whole numbers as floats.
            if f >= 0.0 && f.fract() == 0.0 && f < 9_007_199_254_740_992.0 {
                Value::Uint(f as u64)
            } else {
                Value::Opaque
            }
        }
        Type::Bool => Value::Bool(d.bool().map_err(malformed)?),
        Type::Array | Type::ArrayIndef => {
            let len = d.array().map_err(malformed)?;
            let mut items = Vec::new();
            for_each_item(d, len, "array", |d| {
                items.push(read_value(d, depth + 1)?);
                Ok(())
            })?;
            Value::Array(items)
        }
        Type::Map | Type::MapIndef => Value::Map(read_map(d, depth + 1)?),
        Type::Break => return Err(WireError::Malformed("unexpected break".into())),
        _ => {
            d.skip().map_err(malformed)?;
            Value::Opaque
        }
    })
}

/// Calls `item` once per entry of a container whose header said `len` entries (`None`:
/// indefinite, ended by a break), refusing more than [`MAX_ITEMS`].
pub(super) fn for_each_item<'b>(
    d: &mut Decoder<'b>,
    len: Option<u64>,
    what: &str,
    mut item: impl FnMut(&mut Decoder<'b>) -> Result<(), WireError>,
) -> Result<(), WireError> {
    let mut n = 0u64;
    loop {
        match len {
            Some(l) if n == l => return Ok(()),
            None if d.datatype().map_err(malformed)? == Type::Break => {
                d.skip().map_err(malformed)?;
                return Ok(());
            }
            _ => {}
        }
        n += 1;
        if n > MAX_ITEMS {
            return Err(WireError::Malformed(format!("{what} too long")));
        }
        item(d)?;
    }
}

pub(super) fn read_map(d: &mut Decoder<'_>, depth: u32) -> Result<BTreeMap<String, Value>, WireError> {
    let len = d.map().map_err(malformed)?;
    let mut map = BTreeMap::new();
    for_each_item(d, len, "map", |d| {
        let key = match read_value(d, depth)? {
            Value::Text(k) => Some(k),
            _ => None,
        };
        let value = read_value(d, depth)?;
        match key {
            Some(key) if map.contains_key(&key) => Err(WireError::DuplicateKey(key)),
            Some(key) => {
                map.insert(key, value);
                Ok(())
            }
            None => Ok(()),
        }
    })?;
    Ok(map)
}

pub(super) struct Fields {
    pub(super) message_type: String,
    pub(super) map: BTreeMap<String, Value>,
}

impl Fields {
    pub(super) fn take(&mut self, key: &'static str) -> Result<Value, WireError> {
        self.map
            .remove(key)
            .ok_or_else(|| WireError::Missing { message_type: self.message_type.clone(), key })
    }

    pub(super) fn text(&mut self, key: &'static str) -> Result<String, WireError> {
        match self.take(key)? {
            Value::Text(s) => Ok(s),
            _ => Err(WireError::BadValue { key: key.into() }),
        }
    }

    pub(super) fn bytes(&mut self, key: &'static str) -> Result<Vec<u8>, WireError> {
        match self.take(key)? {
            Value::Bytes(b) => Ok(b),
            _ => Err(WireError::BadValue { key: key.into() }),
        }
    }

    pub(super) fn uint(&mut self, key: &'static str) -> Result<u64, WireError> {
        match self.take(key)? {
            Value::Uint(u) => Ok(u),
            _ => Err(WireError::BadValue { key: key.into() }),
        }
    }

    pub(super) fn texts(&mut self, key: &'static str) -> Result<Vec<String>, WireError> {
        match self.take(key)? {
            Value::Array(items) => items
                .into_iter()
                .map(|v| match v {
                    Value::Text(s) => Ok(s),
                    _ => Err(WireError::BadValue { key: key.into() }),
                })
                .collect(),
            // The README of automerge-repo once showed a single string here.
            Value::Text(s) => Ok(vec![s]),
            _ => Err(WireError::BadValue { key: key.into() }),
        }
    }

    pub(super) fn metadata(&mut self) -> Result<Option<PeerMetadata>, WireError> {
        let value = self.map.remove("peerMetadata").or_else(|| self.map.remove("metadata"));
        match value {
            None | Some(Value::Opaque) => Ok(None),
            Some(Value::Map(mut m)) => {
                let storage_id = match m.remove("storageId") {
                    None | Some(Value::Opaque) => None,
                    Some(Value::Text(s)) => Some(s),
                    Some(_) => return Err(WireError::BadValue { key: "peerMetadata.storageId".into() }),
                };
                let is_ephemeral = matches!(m.remove("isEphemeral"), Some(Value::Bool(true)));
                let extensions = match m.remove("baomingExtensions") {
                    None | Some(Value::Opaque) => Vec::new(),
                    Some(Value::Array(items)) => items
                        .into_iter()
                        .map(|v| match v {
                            Value::Text(s) => Ok(s),
                            _ => Err(WireError::BadValue { key: "peerMetadata.baomingExtensions".into() }),
                        })
                        .collect::<Result<_, _>>()?,
                    Some(_) => {
                        return Err(WireError::BadValue { key: "peerMetadata.baomingExtensions".into() });
                    }
                };
                Ok(Some(PeerMetadata { storage_id, is_ephemeral, extensions }))
            }
            Some(_) => Err(WireError::BadValue { key: "peerMetadata".into() }),
        }
    }
}
