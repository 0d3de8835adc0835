//! Identifiers: rooms are named by people, peers are numbered by the server.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest room name accepted.
pub const MAX_ROOM_LEN: usize = 64;

/// The name of a room: 1 to 64 characters of `A-Z a-z 0-9 - _ .`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct RoomId(String);

/// Why a room name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomIdError {
    /// The name is empty.
    #[error("room name is empty")]
    Empty,
    /// The name is longer than [`MAX_ROOM_LEN`].
    #[error("room name is longer than {MAX_ROOM_LEN} characters")]
    TooLong,
    /// The name holds a character outside `A-Z a-z 0-9 - _ .`.
    #[error("room name may only contain letters, digits, '-', '_' and '.'")]
    BadCharacter,
}

impl RoomId {
    /// Validates a room name.
    pub fn new(name: &str) -> Result<Self, RoomIdError> {
        if name.is_empty() {
            return Err(RoomIdError::Empty);
        }
        if name.len() > MAX_ROOM_LEN {
            return Err(RoomIdError::TooLong);
        }
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
            return Err(RoomIdError::BadCharacter);
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RoomId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RoomId::new(&s).map_err(serde::de::Error::custom)
    }
}

/// A peer's number on one signaling server, given when it joins a room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PeerId(pub u64);

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names() {
        assert!(RoomId::new("demo-1_a.b").is_ok());
        assert_eq!(RoomId::new(""), Err(RoomIdError::Empty));
        assert_eq!(RoomId::new(&"a".repeat(65)), Err(RoomIdError::TooLong));
        assert!(RoomId::new(&"a".repeat(64)).is_ok());
        assert_eq!(RoomId::new("a b"), Err(RoomIdError::BadCharacter));
        assert_eq!(RoomId::new("é"), Err(RoomIdError::BadCharacter));
        assert!(serde_json::from_str::<RoomId>("\"../x\"").is_err());
    }
}
