//! How an item is laid out in the redb store: a fixed header, then the key, the last error
//! and the payload.
//!
//! | bytes | field |
//! |---|---|
//! | 1 | state: 0 ready, 1 leased, 2 dead |
//! | 4 | attempts (little-endian, as every number here) |
//! | 8 | due_at |
//! | 8 | enqueued_at |
//! | 4 | key length |
//! | 4 | last error length, `u32::MAX` for none |
//! | … | key, last error, payload |

use super::{DeferredError, Item, ItemState};

const HEADER: usize = 1 + 4 + 8 + 8 + 4 + 4;
const NO_ERROR: u32 = u32::MAX;

pub(crate) fn encode(item: &Item) -> Vec<u8> {
    let error = item.last_error.as_deref();
    let mut out = Vec::with_capacity(
        HEADER + item.key.len() + error.map_or(0, str::len) + item.payload.len(),
    );
    out.push(match item.state {
        ItemState::Ready => 0,
        ItemState::Leased => 1,
        ItemState::Dead => 2,
    });
    out.extend_from_slice(&item.attempts.to_le_bytes());
    out.extend_from_slice(&item.due_at.to_le_bytes());
    out.extend_from_slice(&item.enqueued_at.to_le_bytes());
    // Keys are at most MAX_KEY_LEN bytes and errors are cut to MAX_ERROR_LEN: both fit.
    out.extend_from_slice(&(item.key.len() as u32).to_le_bytes());
    out.extend_from_slice(&error.map_or(NO_ERROR, |e| e.len() as u32).to_le_bytes());
    out.extend_from_slice(item.key.as_bytes());
    if let Some(error) = error {
        out.extend_from_slice(error.as_bytes());
    }
    out.extend_from_slice(&item.payload);
    out
}

/// The fixed fields, without copying the key or payload (what claims and stats scan).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) state: ItemState,
    pub(crate) attempts: u32,
    pub(crate) due_at: u64,
    pub(crate) enqueued_at: u64,
}

pub(crate) fn header(bytes: &[u8]) -> Result<Header, DeferredError> {
    if bytes.len() < HEADER {
        return Err(DeferredError::corrupt("a record shorter than its header"));
    }
    let state = match bytes[0] {
        0 => ItemState::Ready,
        1 => ItemState::Leased,
        2 => ItemState::Dead,
        other => return Err(DeferredError::corrupt(format!("unknown state {other}"))),
    };
    Ok(Header {
        state,
        attempts: u32_at(bytes, 1),
        due_at: u64_at(bytes, 5),
        enqueued_at: u64_at(bytes, 13),
    })
}

pub(crate) fn decode(id: u64, bytes: &[u8]) -> Result<Item, DeferredError> {
    let Header {
        state,
        attempts,
        due_at,
        enqueued_at,
    } = header(bytes)?;
    let key_len = u32_at(bytes, 21) as usize;
    let error_len = u32_at(bytes, 25);
    let rest = &bytes[HEADER..];
    let too_short = || DeferredError::corrupt(format!("record {id} is cut short"));
    let key = rest.get(..key_len).ok_or_else(too_short)?;
    let rest = &rest[key_len..];
    let (last_error, payload) = match error_len {
        NO_ERROR => (None, rest),
        len => {
            let len = len as usize;
            let error = rest.get(..len).ok_or_else(too_short)?;
            (Some(text(id, error)?), &rest[len..])
        }
    };
    Ok(Item {
        id,
        key: text(id, key)?,
        payload: payload.to_vec(),
        state,
        attempts,
        enqueued_at,
        due_at,
        last_error,
    })
}

fn text(id: u64, bytes: &[u8]) -> Result<String, DeferredError> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| DeferredError::corrupt(format!("record {id} has text that is not UTF-8")))
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(last_error: Option<&str>) -> Item {
        Item {
            id: 7,
            key: "order-7".into(),
            payload: vec![1, 2, 3],
            state: ItemState::Leased,
            attempts: 3,
            enqueued_at: 1_000,
            due_at: 31_000,
            last_error: last_error.map(str::to_owned),
        }
    }

    #[test]
    fn round_trips_with_and_without_an_error() {
        for error in [None, Some(""), Some("503 from payments")] {
            let item = item(error);
            assert_eq!(decode(7, &encode(&item)).unwrap(), item);
            let fixed = header(&encode(&item)).unwrap();
            assert_eq!(
                (fixed.state, fixed.attempts, fixed.due_at),
                (ItemState::Leased, 3, 31_000)
            );
        }
    }

    #[test]
    fn damaged_records_are_errors_not_panics() {
        let bytes = encode(&item(Some("boom")));
        for cut in 0..bytes.len() - 3 {
            // Every prefix that drops part of the key or error is refused; a shorter
            // payload is indistinguishable and decodes.
            let _ = decode(7, &bytes[..cut]);
        }
        assert!(decode(7, &bytes[..HEADER - 1]).is_err());
        assert!(decode(7, &bytes[..HEADER + 3]).is_err());
        let mut bad_state = bytes.clone();
        bad_state[0] = 9;
        assert!(decode(7, &bad_state).is_err());
        let mut huge_key = bytes;
        huge_key[21..25].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(7, &huge_key).is_err());
    }
}
