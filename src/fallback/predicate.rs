//! Which errors the fallback answers.

use crate::{Error, ErrorKind};

/// Decides whether a failed call goes to the fallback function.
///
/// Implemented by [`Kinds`] (a set of [`ErrorKind`]s, the default) and by any
/// `Fn(&Error<E, Req>) -> bool`.
///
/// ```
/// use tower_breakwater::fallback::{Kinds, Predicate};
/// use tower_breakwater::{Error, ErrorKind};
///
/// let inner: Error<&str> = Error::Inner("card declined");
/// assert!(!Kinds::refusals().wants(&inner));
/// assert!(Kinds::refusals().with(ErrorKind::Inner).wants(&inner));
/// let declined = |e: &Error<&str>| e.inner() == Some(&"card declined");
/// assert!(declined.wants(&inner));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot choose which errors the fallback answers",
    label = "must be a `Kinds` set or `Fn(&tower_breakwater::Error<{E}, {Req}>) -> bool`",
    note = "the predicate sees the stack's error, `tower_breakwater::Error<{E}, {Req}>`, by reference"
)]
pub trait Predicate<E, Req> {
    /// True if `error` should be answered by the fallback.
    fn wants(&self, error: &Error<E, Req>) -> bool;
}

/// A set of [`ErrorKind`]s. The default, [`Kinds::refusals`], is the two errors of calls that
/// were never sent: [`ErrorKind::Rejected`] and [`ErrorKind::BulkheadFull`].
///
/// ```
/// use tower_breakwater::fallback::Kinds;
/// use tower_breakwater::ErrorKind;
///
/// let kinds = Kinds::refusals().with(ErrorKind::Timeout);
/// assert!(kinds.contains(ErrorKind::Rejected) && kinds.contains(ErrorKind::Timeout));
/// assert!(!kinds.contains(ErrorKind::Inner));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kinds(u8);

impl Kinds {
    /// No kind at all.
    ///
    /// ```
    /// # use tower_breakwater::{fallback::Kinds, ErrorKind};
    /// assert!(!Kinds::none().contains(ErrorKind::Rejected));
    /// ```
    #[must_use]
    pub const fn none() -> Self {
        Kinds(0)
    }

    /// The refusals: an open breaker and a full bulkhead (requests never sent).
    ///
    /// ```
    /// # use tower_breakwater::{fallback::Kinds, ErrorKind};
    /// assert!(Kinds::refusals().contains(ErrorKind::BulkheadFull));
    /// ```
    #[must_use]
    pub const fn refusals() -> Self {
        Kinds::none()
            .with(ErrorKind::Rejected)
            .with(ErrorKind::BulkheadFull)
    }

    /// Every kind of error.
    ///
    /// ```
    /// # use tower_breakwater::{fallback::Kinds, ErrorKind};
    /// assert!(Kinds::all().contains(ErrorKind::RetriesExhausted));
    /// ```
    #[must_use]
    pub const fn all() -> Self {
        Kinds::refusals()
            .with(ErrorKind::Timeout)
            .with(ErrorKind::RetriesExhausted)
            .with(ErrorKind::Inner)
    }

    /// This set plus `kind`.
    ///
    /// ```
    /// # use tower_breakwater::{fallback::Kinds, ErrorKind};
    /// assert!(Kinds::none().with(ErrorKind::Inner).contains(ErrorKind::Inner));
    /// ```
    #[must_use]
    pub const fn with(self, kind: ErrorKind) -> Self {
        Kinds(self.0 | bit(kind))
    }

    /// Whether `kind` is in the set.
    ///
    /// ```
    /// # use tower_breakwater::{fallback::Kinds, ErrorKind};
    /// assert!(!Kinds::refusals().contains(ErrorKind::Timeout));
    /// ```
    #[must_use]
    pub const fn contains(self, kind: ErrorKind) -> bool {
        self.0 & bit(kind) != 0
    }
}

impl Default for Kinds {
    fn default() -> Self {
        Kinds::refusals()
    }
}

const fn bit(kind: ErrorKind) -> u8 {
    1 << match kind {
        ErrorKind::Rejected => 0,
        ErrorKind::Timeout => 1,
        ErrorKind::BulkheadFull => 2,
        ErrorKind::RetriesExhausted => 3,
        ErrorKind::Inner => 4,
    }
}

impl<E, Req> Predicate<E, Req> for Kinds {
    #[inline]
    fn wants(&self, error: &Error<E, Req>) -> bool {
        self.contains(error.kind())
    }
}

impl<F, E, Req> Predicate<E, Req> for F
where
    F: Fn(&Error<E, Req>) -> bool,
{
    #[inline]
    fn wants(&self, error: &Error<E, Req>) -> bool {
        self(error)
    }
}
