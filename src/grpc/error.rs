//! breakwater's refusals as gRPC codes, for a client or server that must answer in gRPC.

use super::Code;
use crate::Error;

#[cfg_attr(docsrs, doc(cfg(feature = "grpc")))]
impl<E, Req> Error<E, Req> {
    /// The gRPC code this error stands for: an open breaker → `Unavailable` (the call
    /// was not sent, so it is safe to retry elsewhere), a timeout → `DeadlineExceeded`, a
    /// full bulkhead → `ResourceExhausted`; the inner service's own error (also as the
    /// last error of [`Error::RetriesExhausted`]) → `Unknown` (map your own errors first
    /// if they know better).
    ///
    /// With tonic: `tonic::Status::new(tonic::Code::from(e.grpc_code() as i32), e.to_string())`.
    /// A tonic client that finds a `Status` among an error's sources returns it as is.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_breakwater::grpc::Code;
    /// use tower_breakwater::{bulkhead::BulkheadFull, timeout::Elapsed, Error};
    ///
    /// let full: Error<&str> = BulkheadFull::new("db", 4, None).into();
    /// assert_eq!(full.grpc_code(), Code::ResourceExhausted);
    /// let late: Error<&str> = Elapsed::new("db", Duration::from_secs(1), Duration::from_secs(1)).into();
    /// assert_eq!(late.grpc_code(), Code::DeadlineExceeded);
    /// assert_eq!(Error::<&str>::Inner("reset").grpc_code(), Code::Unknown);
    /// ```
    pub fn grpc_code(&self) -> Code {
        match self.root() {
            Error::Rejected(_) => Code::Unavailable,
            Error::Timeout(_) => Code::DeadlineExceeded,
            Error::BulkheadFull(_) => Code::ResourceExhausted,
            Error::RetriesExhausted(_) | Error::Inner(_) => Code::Unknown,
        }
    }
}
