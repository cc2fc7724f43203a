//! The library API: a breaker around plain async code, no tower needed.

use std::future::Future;

use super::{CircuitBreaker, Error};
use crate::classify::{Classify, FailOnError};

impl CircuitBreaker {
    /// Run `f`'s future through the breaker, counting an `Err` as a failure. When the
    /// breaker refuses, `f` is not called and the result is [`Error::Rejected`]. Dropping
    /// the returned future mid-call counts the call as cancelled.
    ///
    /// # Errors
    /// [`Error::Rejected`] when the breaker refuses (then `f` is not called), [`Error::Inner`]
    /// with `f`'s own error when the call failed.
    ///
    /// ```
    /// use tower_breakwater::circuit_breaker::CircuitBreaker;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let breaker = CircuitBreaker::builder("geo").build().unwrap();
    /// let city = breaker
    ///     .call(|| async { Ok::<_, std::io::Error>("Lisbon") })
    ///     .await
    ///     .unwrap();
    /// assert_eq!(city, "Lisbon");
    /// # }
    /// ```
    pub async fn call<F, Fut, T, E>(&self, f: F) -> Result<T, Error<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.call_with(&FailOnError, f).await
    }

    /// Like [`call`](Self::call), with a classifier that decides which outcomes are failures.
    ///
    /// # Errors
    /// [`Error::Rejected`] when the breaker refuses (then `f` is not called), [`Error::Inner`]
    /// with `f`'s own error when the call failed (whatever the classifier made of it).
    ///
    /// ```
    /// use tower_breakwater::circuit_breaker::CircuitBreaker;
    /// use tower_breakwater::classify::Outcome;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let breaker = CircuitBreaker::builder("search").consecutive_failures(1).build().unwrap();
    /// let not_found_is_fine = |r: &Result<Option<u32>, String>| match r {
    ///     Ok(_) => Outcome::Success,
    ///     Err(_) => Outcome::Failure,
    /// };
    /// let hit = breaker.call_with(&not_found_is_fine, || async { Ok(None) }).await;
    /// assert_eq!(hit.unwrap(), None);
    /// # }
    /// ```
    pub async fn call_with<C, F, Fut, T, E>(&self, classifier: &C, f: F) -> Result<T, Error<E>>
    where
        C: Classify<T, E>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let permit = self.try_acquire().map_err(Error::Rejected)?;
        let result = f().await;
        permit.record(classifier.classify(&result));
        result.map_err(Error::Inner)
    }
}
