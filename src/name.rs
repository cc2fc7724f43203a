//! The name of a breaker (or any layer instance), cheap to hand out with every rejection.

use std::fmt;
use std::sync::Arc;

/// The name a layer instance is known by: in errors, `tracing` events and metric labels.
///
/// A `&'static str` (the usual case, a literal) is copied for free; a `String` is shared,
/// so a rejection never allocates either way.
///
/// ```
/// use tower_breakwater::Name;
/// let a = Name::from("payments");
/// let b = Name::from(String::from("payments"));
/// assert_eq!(a, b);
/// assert_eq!(a.as_str(), "payments");
/// ```
#[derive(Clone)]
pub struct Name(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
}

impl Name {
    /// The name as text.
    ///
    /// ```
    /// assert_eq!(tower_breakwater::Name::from("db").as_str(), "db");
    /// ```
    #[must_use]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(s) => s,
            Repr::Shared(s) => s,
        }
    }
}

impl From<&'static str> for Name {
    fn from(s: &'static str) -> Self {
        Name(Repr::Static(s))
    }
}

impl From<String> for Name {
    fn from(s: String) -> Self {
        Name(Repr::Shared(s.into()))
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Name {}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
