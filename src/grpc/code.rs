//! gRPC status codes, without depending on a gRPC crate.

use std::fmt;

/// A gRPC status code (the numbers of the gRPC spec; `tonic::Code` has the same ones, so
/// `Code::from_i32(tonic_code as i32)` and `tonic::Code::from(code as i32)` convert).
///
/// ```
/// use tower_breakwater::grpc::Code;
/// assert_eq!(Code::from_i32(14), Code::Unavailable);
/// assert_eq!(Code::Unavailable as i32, 14);
/// assert_eq!(Code::from_i32(99), Code::Unknown); // what the spec says a client does
/// assert_eq!(Code::DeadlineExceeded.to_string(), "DEADLINE_EXCEEDED");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Code {
    /// 0: not an error.
    Ok = 0,
    /// 1: the caller cancelled.
    Cancelled = 1,
    /// 2: an error with no better code (also: any code this crate does not know).
    Unknown = 2,
    /// 3: the request was wrong, whatever the server's state.
    InvalidArgument = 3,
    /// 4: the deadline passed before the call finished.
    DeadlineExceeded = 4,
    /// 5: what was asked for does not exist.
    NotFound = 5,
    /// 6: what was to be created exists already.
    AlreadyExists = 6,
    /// 7: the caller may not do this.
    PermissionDenied = 7,
    /// 8: a quota or a resource ran out (a server at capacity, or a per-user quota).
    ResourceExhausted = 8,
    /// 9: the system is not in the state the call needs.
    FailedPrecondition = 9,
    /// 10: the call was aborted (a concurrency conflict, say).
    Aborted = 10,
    /// 11: past the valid range.
    OutOfRange = 11,
    /// 12: the server does not implement the method.
    Unimplemented = 12,
    /// 13: an invariant of the server broke.
    Internal = 13,
    /// 14: the service cannot be reached right now; a retry may work.
    Unavailable = 14,
    /// 15: data was lost or corrupted.
    DataLoss = 15,
    /// 16: the caller has no valid credentials.
    Unauthenticated = 16,
}

const ALL: [Code; 17] = [
    Code::Ok,
    Code::Cancelled,
    Code::Unknown,
    Code::InvalidArgument,
    Code::DeadlineExceeded,
    Code::NotFound,
    Code::AlreadyExists,
    Code::PermissionDenied,
    Code::ResourceExhausted,
    Code::FailedPrecondition,
    Code::Aborted,
    Code::OutOfRange,
    Code::Unimplemented,
    Code::Internal,
    Code::Unavailable,
    Code::DataLoss,
    Code::Unauthenticated,
];

impl Code {
    /// The code numbered `value`; [`Code::Unknown`] for a number outside 0–16.
    ///
    /// ```
    /// use tower_breakwater::grpc::Code;
    /// assert_eq!(Code::from_i32(4), Code::DeadlineExceeded);
    /// assert_eq!(Code::from_i32(-1), Code::Unknown);
    /// ```
    #[must_use]
    pub fn from_i32(value: i32) -> Code {
        usize::try_from(value)
            .ok()
            .and_then(|i| ALL.get(i).copied())
            .unwrap_or(Code::Unknown)
    }

    /// The code's name as the spec writes it (`UNAVAILABLE`).
    ///
    /// ```
    /// use tower_breakwater::grpc::Code;
    /// assert_eq!(Code::ResourceExhausted.as_str(), "RESOURCE_EXHAUSTED");
    /// ```
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Ok => "OK",
            Code::Cancelled => "CANCELLED",
            Code::Unknown => "UNKNOWN",
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Code::NotFound => "NOT_FOUND",
            Code::AlreadyExists => "ALREADY_EXISTS",
            Code::PermissionDenied => "PERMISSION_DENIED",
            Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Code::FailedPrecondition => "FAILED_PRECONDITION",
            Code::Aborted => "ABORTED",
            Code::OutOfRange => "OUT_OF_RANGE",
            Code::Unimplemented => "UNIMPLEMENTED",
            Code::Internal => "INTERNAL",
            Code::Unavailable => "UNAVAILABLE",
            Code::DataLoss => "DATA_LOSS",
            Code::Unauthenticated => "UNAUTHENTICATED",
        }
    }

    /// A bit for this code in a set of codes.
    #[inline]
    pub(crate) fn bit(self) -> u32 {
        1 << (self as i32)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip() {
        for (i, code) in ALL.iter().enumerate() {
            assert_eq!(*code as i32, i as i32);
            assert_eq!(Code::from_i32(i as i32), *code);
        }
        for bad in [-1, 17, i32::MAX, i32::MIN] {
            assert_eq!(Code::from_i32(bad), Code::Unknown);
        }
    }
}
