//! The error an injected fault fails a call with.

use std::fmt;

use crate::Name;

/// Which kind of fault the chaos layer injected into a call.
///
/// Only [`Fault::Error`] and [`Fault::Abort`] end a call with a [`ChaosError`]: a
/// [`Fault::Latency`] call goes on (late) to the inner service, and a [`Fault::Hang`] never
/// ends on its own — a timeout above it, or the caller, has to give up.
///
/// ```
/// use tower_breakwater::chaos::{ChaosError, Fault};
///
/// let e = ChaosError::new("payments", Fault::Abort);
/// assert_eq!(e.fault(), Fault::Abort);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fault {
    /// The call failed at once; the inner service was never called.
    Error,
    /// The answer came late: the inner service was called at once, and its response is
    /// held back for the configured delay.
    Latency,
    /// The call never ends; the inner service was never called.
    Hang,
    /// The inner service was called and polled once, then its answer thrown away and the
    /// call failed: as if the connection broke after the request left.
    Abort,
}

/// A call failed because the chaos layer injected a fault ([`Fault::Error`] or
/// [`Fault::Abort`]). Match on it to tell a rehearsed failure from a real one.
///
/// It converts into tower's `BoxError` (downcast it back with `downcast_ref`), into
/// `std::io::Error` (kind `Other`), and into [`tower_breakwater::Error<E, Req>`](crate::Error)
/// as [`Error::Inner`](crate::Error::Inner) whenever `E` can hold it — so a circuit
/// breaker above it sees what a real dependency failure looks like.
///
/// ```
/// use tower_breakwater::chaos::{ChaosError, Fault};
///
/// let e = ChaosError::new("payments", Fault::Error);
/// assert_eq!(e.name(), "payments");
/// assert!(!e.is_abort());
/// assert_eq!(e.to_string(), "chaos in 'payments': injected error");
/// let io: std::io::Error = e.clone().into();
/// assert_eq!(io.get_ref().unwrap().downcast_ref::<ChaosError>(), Some(&e));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChaosError {
    name: Name,
    fault: Fault,
}

impl ChaosError {
    /// The error of a `fault` injected by the chaos layer named `name` (public so that
    /// tests and fakes can make one too).
    ///
    /// ```
    /// use tower_breakwater::chaos::{ChaosError, Fault};
    /// let e = ChaosError::new("db", Fault::Error);
    /// assert_eq!(e.fault(), Fault::Error);
    /// ```
    pub fn new(name: impl Into<Name>, fault: Fault) -> Self {
        ChaosError {
            name: name.into(),
            fault,
        }
    }

    /// The name of the chaos layer that injected the fault.
    ///
    /// ```
    /// # use tower_breakwater::chaos::{ChaosError, Fault};
    /// assert_eq!(ChaosError::new("db", Fault::Error).name(), "db");
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// Which fault it was: [`Fault::Error`] or [`Fault::Abort`].
    ///
    /// ```
    /// # use tower_breakwater::chaos::{ChaosError, Fault};
    /// assert_eq!(ChaosError::new("db", Fault::Abort).fault(), Fault::Abort);
    /// ```
    #[must_use]
    pub fn fault(&self) -> Fault {
        self.fault
    }

    /// True if the inner service was called before the call failed (a [`Fault::Abort`]):
    /// the dependency may have acted on the request.
    ///
    /// ```
    /// # use tower_breakwater::chaos::{ChaosError, Fault};
    /// assert!(ChaosError::new("db", Fault::Abort).is_abort());
    /// ```
    #[must_use]
    pub fn is_abort(&self) -> bool {
        self.fault == Fault::Abort
    }
}

impl fmt::Display for ChaosError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.fault {
            Fault::Abort => write!(
                f,
                "chaos in '{}': injected abort (request sent, answer dropped)",
                self.name
            ),
            Fault::Error => write!(f, "chaos in '{}': injected error", self.name),
            Fault::Latency => write!(f, "chaos in '{}': injected latency", self.name),
            Fault::Hang => write!(f, "chaos in '{}': injected hang", self.name),
        }
    }
}

impl std::error::Error for ChaosError {}

/// For services whose error is `std::io::Error` (kind `Other`, the `ChaosError` inside).
impl From<ChaosError> for std::io::Error {
    fn from(e: ChaosError) -> Self {
        std::io::Error::other(e)
    }
}

/// An injected fault is, to every layer above it, the dependency failing: it becomes
/// [`Error::Inner`](crate::Error::Inner), so the breaker counts it and retries retry it.
impl<E, Req> From<ChaosError> for crate::Error<E, Req>
where
    E: From<ChaosError>,
{
    fn from(e: ChaosError) -> Self {
        crate::Error::Inner(E::from(e))
    }
}
