//! Durations in config files are written for people: "30s", "250ms", "1m 30s".

use std::borrow::Cow;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A duration written as text and parsed by `humantime` ("30s", "250ms", "2h 5m"). A
/// number alone is refused: "30" could be seconds or milliseconds, and a config file
/// should not make the reader guess.
pub(crate) fn required<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    parse(Cow::<'de, str>::deserialize(d)?)
}

/// Like [`required`], for a field that may be left out (used with `#[serde(default)]`).
pub(crate) fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    Option::<Cow<'de, str>>::deserialize(d)?
        .map(parse)
        .transpose()
}

fn parse<E: serde::de::Error>(text: Cow<'_, str>) -> Result<Duration, E> {
    humantime::parse_duration(&text).map_err(|e| {
        E::custom(format_args!(
            "invalid duration {text:?} ({e}); write it like \"30s\", \"250ms\" or \"1m 30s\""
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Holder {
        #[serde(deserialize_with = "required")]
        d: Duration,
    }

    fn read(text: &str) -> Result<Duration, serde::de::value::Error> {
        use serde::de::value::{MapDeserializer, StrDeserializer};
        let map = MapDeserializer::new(std::iter::once(("d", StrDeserializer::new(text))));
        Holder::deserialize(map).map(|h| h.d)
    }

    #[test]
    fn human_durations_parse_and_nonsense_is_an_error() {
        assert_eq!(read("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(read("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(read("1m 30s").unwrap(), Duration::from_secs(90));
        for bad in ["", "30", "soon", "-1s", "99999999999999999999999y"] {
            let err = read(bad).unwrap_err().to_string();
            assert!(err.contains("invalid duration"), "{bad:?}: {err}");
        }
    }
}
