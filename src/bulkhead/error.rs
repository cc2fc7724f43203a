//! The bulkhead's error.

use std::fmt;
use std::time::Duration;

use crate::Name;

/// The bulkhead refused a call without sending it: every slot was in use and the wait was
/// full or too long.
///
/// Like the breaker's rejection it hands the unsent request back
/// ([`into_request`](BulkheadFull::into_request)), so a fallback needs no `Req: Clone`.
///
/// ```
/// use std::time::Duration;
/// use tower_breakwater::bulkhead::BulkheadFull;
///
/// let full = BulkheadFull::new("payments", 16, None);
/// assert_eq!(full.max_concurrent(), 16);
/// assert_eq!(full.to_string(), "bulkhead 'payments' is full (16 calls in flight)");
/// let waited = BulkheadFull::new("payments", 16, Some(Duration::from_millis(250)));
/// assert_eq!(
///     waited.to_string(),
///     "bulkhead 'payments' is full (16 calls in flight; waited 0.250s)"
/// );
/// ```
pub struct BulkheadFull<Req = ()> {
    name: Name,
    max_concurrent: usize,
    waited: Option<Duration>,
    request: Option<Req>,
}

impl BulkheadFull {
    /// A refusal by bulkhead `name` of `max_concurrent` slots, after waiting `waited` (`None`:
    /// refused at once because the wait queue was full or waiting is off).
    ///
    /// ```
    /// # use tower_breakwater::bulkhead::BulkheadFull;
    /// assert_eq!(BulkheadFull::new("db", 4, None).name(), "db");
    /// ```
    pub fn new(name: impl Into<Name>, max_concurrent: usize, waited: Option<Duration>) -> Self {
        BulkheadFull {
            name: name.into(),
            max_concurrent,
            waited,
            request: None,
        }
    }
}

impl<Req> BulkheadFull<Req> {
    /// The same refusal, carrying `request` back to the caller.
    ///
    /// ```
    /// # use tower_breakwater::bulkhead::BulkheadFull;
    /// let full = BulkheadFull::new("db", 4, None).with_request("query");
    /// assert_eq!(full.into_request(), Some("query"));
    /// ```
    pub fn with_request<R>(self, request: R) -> BulkheadFull<R> {
        BulkheadFull {
            name: self.name,
            max_concurrent: self.max_concurrent,
            waited: self.waited,
            request: Some(request),
        }
    }

    /// The same refusal without its request.
    ///
    /// ```
    /// # use tower_breakwater::bulkhead::BulkheadFull;
    /// let full: BulkheadFull = BulkheadFull::new("db", 4, None).with_request(1).without_request();
    /// assert!(full.request().is_none());
    /// ```
    pub fn without_request(self) -> BulkheadFull {
        BulkheadFull {
            name: self.name,
            max_concurrent: self.max_concurrent,
            waited: self.waited,
            request: None,
        }
    }

    /// The bulkhead's name.
    ///
    /// ```
    /// # use tower_breakwater::bulkhead::BulkheadFull;
    /// assert_eq!(BulkheadFull::new("db", 4, None).name(), "db");
    /// ```
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// How many calls may be in flight at once.
    ///
    /// ```
    /// # use tower_breakwater::bulkhead::BulkheadFull;
    /// assert_eq!(BulkheadFull::new("db", 4, None).max_concurrent(), 4);
    /// ```
    pub fn max_concurrent(&self) -> usize {
        self.max_concurrent
    }

    /// How long the call waited for a slot before it was refused (`None`: refused at once).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_breakwater::bulkhead::BulkheadFull;
    /// let full = BulkheadFull::new("db", 4, Some(Duration::from_millis(5)));
    /// assert_eq!(full.waited(), Some(Duration::from_millis(5)));
    /// ```
    pub fn waited(&self) -> Option<Duration> {
        self.waited
    }

    /// The request that was not sent, if the refusal carries one.
    ///
    /// ```
    /// # use tower_breakwater::bulkhead::BulkheadFull;
    /// assert_eq!(BulkheadFull::new("db", 4, None).with_request(9).request(), Some(&9));
    /// ```
    pub fn request(&self) -> Option<&Req> {
        self.request.as_ref()
    }

    /// Take the unsent request out.
    ///
    /// ```
    /// # use tower_breakwater::bulkhead::BulkheadFull;
    /// let mut full = BulkheadFull::new("db", 4, None).with_request(9);
    /// assert_eq!(full.take_request(), Some(9));
    /// assert_eq!(full.take_request(), None);
    /// ```
    pub fn take_request(&mut self) -> Option<Req> {
        self.request.take()
    }

    /// The unsent request, if any.
    ///
    /// ```
    /// # use tower_breakwater::bulkhead::BulkheadFull;
    /// assert_eq!(BulkheadFull::new("db", 4, None).into_request(), None);
    /// ```
    pub fn into_request(self) -> Option<Req> {
        self.request
    }
}

impl<Req> fmt::Debug for BulkheadFull<Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkheadFull")
            .field("name", &self.name)
            .field("max_concurrent", &self.max_concurrent)
            .field("waited", &self.waited)
            .field("has_request", &self.request.is_some())
            .finish()
    }
}

impl<Req> fmt::Display for BulkheadFull<Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bulkhead '{}' is full ({} calls in flight",
            self.name, self.max_concurrent
        )?;
        match self.waited {
            Some(waited) => write!(f, "; waited {:.3}s)", waited.as_secs_f64()),
            None => f.write_str(")"),
        }
    }
}

impl<Req> std::error::Error for BulkheadFull<Req> {}
