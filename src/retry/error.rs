//! The retry layer's error.

use std::fmt;

use crate::{Error, Name};

/// The retry layer gave up on a call that it would have retried: the attempts ran out, or
/// the retry budget had nothing left to spend. It carries the number of attempts made and the
/// last attempt's error.
///
/// An error the retry policy does not retry (a breaker rejection, a full bulkhead, or
/// whatever the predicate refuses) comes back as it was, not wrapped in this.
///
/// ```
/// use tower_breakwater::retry::RetriesExhausted;
/// use tower_breakwater::Error;
///
/// let last: Error<&str> = Error::Inner("connection reset");
/// let gave_up = RetriesExhausted::new("payments", 3, false, last);
/// assert_eq!(gave_up.attempts(), 3);
/// assert_eq!(
///     gave_up.to_string(),
///     "'payments' gave up after 3 attempts: connection reset"
/// );
/// ```
pub struct RetriesExhausted<E, Req = ()> {
    name: Name,
    attempts: u32,
    budget_empty: bool,
    last: Box<Error<E, Req>>,
}

impl<E, Req> RetriesExhausted<E, Req> {
    /// `name` gave up after `attempts` attempts (`budget_empty`: because the retry budget
    /// refused another one), the last failing with `last`.
    ///
    /// ```
    /// # use tower_breakwater::retry::RetriesExhausted;
    /// # use tower_breakwater::Error;
    /// let gave_up = RetriesExhausted::new("db", 1, true, Error::<&str>::Inner("x"));
    /// assert!(gave_up.is_budget_empty());
    /// ```
    pub fn new(
        name: impl Into<Name>,
        attempts: u32,
        budget_empty: bool,
        last: Error<E, Req>,
    ) -> Self {
        RetriesExhausted {
            name: name.into(),
            attempts,
            budget_empty,
            last: Box::new(last),
        }
    }

    /// The name of the retry layer (or of the stack it belongs to).
    ///
    /// ```
    /// # use tower_breakwater::retry::RetriesExhausted;
    /// # use tower_breakwater::Error;
    /// assert_eq!(RetriesExhausted::new("db", 2, false, Error::<()>::Inner(())).name(), "db");
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// How many attempts were made, the first one included.
    ///
    /// ```
    /// # use tower_breakwater::retry::RetriesExhausted;
    /// # use tower_breakwater::Error;
    /// assert_eq!(RetriesExhausted::new("db", 2, false, Error::<()>::Inner(())).attempts(), 2);
    /// ```
    #[must_use]
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// True if the retry budget refused another attempt (rather than the attempts running
    /// out).
    ///
    /// ```
    /// # use tower_breakwater::retry::RetriesExhausted;
    /// # use tower_breakwater::Error;
    /// assert!(!RetriesExhausted::new("db", 2, false, Error::<()>::Inner(())).is_budget_empty());
    /// ```
    #[must_use]
    pub fn is_budget_empty(&self) -> bool {
        self.budget_empty
    }

    /// The last attempt's error.
    ///
    /// ```
    /// # use tower_breakwater::retry::RetriesExhausted;
    /// # use tower_breakwater::Error;
    /// let gave_up = RetriesExhausted::new("db", 2, false, Error::<&str>::Inner("x"));
    /// assert!(matches!(gave_up.last(), Error::Inner("x")));
    /// ```
    #[must_use]
    pub fn last(&self) -> &Error<E, Req> {
        &self.last
    }

    pub(crate) fn last_mut(&mut self) -> &mut Error<E, Req> {
        &mut self.last
    }

    /// The last attempt's error, owned.
    ///
    /// ```
    /// # use tower_breakwater::retry::RetriesExhausted;
    /// # use tower_breakwater::Error;
    /// let gave_up = RetriesExhausted::new("db", 2, false, Error::<&str>::Inner("x"));
    /// assert_eq!(gave_up.into_last().into_inner(), Some("x"));
    /// ```
    #[must_use]
    pub fn into_last(self) -> Error<E, Req> {
        *self.last
    }
}

impl<E: fmt::Debug, Req> fmt::Debug for RetriesExhausted<E, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetriesExhausted")
            .field("name", &self.name)
            .field("attempts", &self.attempts)
            .field("budget_empty", &self.budget_empty)
            .field("last", &self.last)
            .finish()
    }
}

impl<E: fmt::Display, Req> fmt::Display for RetriesExhausted<E, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, attempts) = (&self.name, self.attempts);
        let plural = if attempts == 1 { "" } else { "s" };
        if self.budget_empty {
            write!(
                f,
                "'{name}' gave up after {attempts} attempt{plural} (retry budget empty): {}",
                self.last
            )
        } else {
            write!(
                f,
                "'{name}' gave up after {attempts} attempt{plural}: {}",
                self.last
            )
        }
    }
}

impl<E: fmt::Debug + fmt::Display, Req> std::error::Error for RetriesExhausted<E, Req> {}
