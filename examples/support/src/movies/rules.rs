//! The rules of the text fields, written once: the handlers check them, and the `OpenAPI`
//! document states them (as `pattern` and `maxLength`), so a client that follows the
//! document is never refused, and one that does not is.

use std::sync::LazyLock;

use regex::Regex;
use utoipa::openapi::schema::Object;
use utoipa::openapi::{RefOr, Schema};

/// The longest accepted text field, in characters (Unicode scalar values, as JSON
/// Schema's `maxLength` counts them).
pub const MAX_FIELD_LEN: usize = 400;

/// `char::is_whitespace` (what `str::trim` removes), as a regex class body that Rust's
/// `regex`, ECMA-262 and Python's `re` all read alike.
const WHITESPACE: &str =
    r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// A name: at least one character that is not whitespace.
pub static NAME_PATTERN: LazyLock<String> =
    LazyLock::new(|| format!("^[{WHITESPACE}]*[^{WHITESPACE}]"));

/// An absolute `http`/`https` URL of plain ASCII: a host of letter-and-digit labels whose
/// last one starts with a letter (never read as an IP address), an optional port, and
/// an optional path without `%`, `?` or `#`. Every URL it matches parses with the `url`
/// crate as an `http`/`https` URL with a host.
pub const URL_PATTERN: &str = r"^[hH][tT][tT][pP][sS]?://(?:[A-Za-z0-9]+\.)*[A-Za-z][A-Za-z0-9]*(?::[0-9]{1,4})?(?:/[A-Za-z0-9._~!$&'()*+,;=:@/-]*)?$";

/// [`URL_PATTERN`] or the empty string.
pub static OPTIONAL_URL_PATTERN: LazyLock<String> = LazyLock::new(|| {
    let url = URL_PATTERN.trim_start_matches('^').trim_end_matches('$');
    format!("^(?:{url})?$")
});

/// What a text field must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Any text of at most [`MAX_FIELD_LEN`] characters.
    Text,
    /// Text with a character that is not whitespace ([`NAME_PATTERN`]).
    Name,
    /// A URL matching [`URL_PATTERN`].
    Url,
    /// A URL or empty ([`OPTIONAL_URL_PATTERN`]).
    OptionalUrl,
}

static NAME: LazyLock<Regex> = LazyLock::new(|| compile(&NAME_PATTERN));
static URL: LazyLock<Regex> = LazyLock::new(|| compile(URL_PATTERN));
static OPTIONAL_URL: LazyLock<Regex> = LazyLock::new(|| compile(&OPTIONAL_URL_PATTERN));

fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).expect("the field patterns are valid regular expressions")
}

impl Rule {
    /// The `pattern` the document gives the field, if any.
    pub fn pattern(self) -> Option<&'static str> {
        match self {
            Self::Text => None,
            Self::Name => Some(NAME_PATTERN.as_str()),
            Self::Url => Some(URL_PATTERN),
            Self::OptionalUrl => Some(OPTIONAL_URL_PATTERN.as_str()),
        }
    }

    /// Checks `value`, a field named `field`.
    pub fn check(self, field: &'static str, value: &str) -> Result<(), ValidationError> {
        if value.chars().count() > MAX_FIELD_LEN {
            return Err(ValidationError {
                field,
                reason: "must be at most 400 characters",
            });
        }
        let (regex, reason) = match self {
            Self::Text => return Ok(()),
            Self::Name => (&*NAME, "must contain a character that is not whitespace"),
            Self::Url => (
                &*URL,
                "must be an absolute http or https URL (see the pattern)",
            ),
            Self::OptionalUrl => (
                &*OPTIONAL_URL,
                "must be empty or an absolute http or https URL (see the pattern)",
            ),
        };
        if regex.is_match(value) {
            Ok(())
        } else {
            Err(ValidationError { field, reason })
        }
    }

    /// Adds the rule to the field's schema: `maxLength` and the `pattern`.
    fn document(self, schema: &mut Object) {
        schema.max_length = Some(MAX_FIELD_LEN);
        schema.pattern = self.pattern().map(str::to_owned);
    }
}

/// Which field is wrong and why; its `Display` is safe to send to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ValidationError {
    /// The JSON key.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// A request body whose text fields follow [`Rule`]s.
pub trait Input {
    /// Each text field's JSON key and rule.
    const RULES: &'static [(&'static str, Rule)];

    /// The fields' values in the order of [`Input::RULES`]; `None` for a field absent
    /// from a patch.
    fn values(&self) -> Vec<Option<&str>>;

    /// Checks every field present; the first problem found is returned.
    fn validate(&self) -> Result<(), ValidationError> {
        for (&(field, rule), value) in Self::RULES.iter().zip(self.values()) {
            if let Some(value) = value {
                rule.check(field, value)?;
            }
        }
        Ok(())
    }

    /// Writes the rules into `schema`, the type's `OpenAPI` object schema.
    fn document(schema: &mut RefOr<Schema>) {
        let RefOr::T(Schema::Object(object)) = schema else {
            panic!("an input schema is an inline object");
        };
        for (field, rule) in Self::RULES {
            match object.properties.get_mut(*field) {
                Some(RefOr::T(Schema::Object(property))) => rule.document(property),
                _ => panic!("{field} is an inline property of its schema"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_need_a_character_that_is_not_whitespace() {
        for good in ["A", " a ", "\u{1c}", "Amélie — 天使 🎬"] {
            assert_eq!(Rule::Name.check("name", good), Ok(()), "{good:?}");
        }
        for bad in ["", " ", "\t\n\u{3000}\u{85}"] {
            assert!(Rule::Name.check("name", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_whitespace_class_is_rusts_whitespace() {
        let class = Regex::new(&format!("^[{WHITESPACE}]$")).unwrap();
        for c in (0..=0x10_FFFF).filter_map(char::from_u32) {
            assert_eq!(
                class.is_match(c.encode_utf8(&mut [0; 4])),
                c.is_whitespace(),
                "{c:?}"
            );
        }
    }

    #[test]
    fn every_url_the_pattern_accepts_parses_as_an_http_url_with_a_host() {
        for good in [
            "http://a",
            "HTTPS://peach.blender.org/",
            "https://1.2.a:8080/x/y.png",
            "http://a.b/~x!$&'()*+,;=:@/-._",
            "http://0.example/..",
        ] {
            assert_eq!(Rule::Url.check("url", good), Ok(()), "{good}");
            let url = url::Url::parse(good).unwrap();
            assert!(matches!(url.scheme(), "http" | "https") && url.has_host());
        }
        for bad in [
            "",
            "/movies/1",
            "javascript:alert(1)",
            "ftp://example.com/x",
            "not a url",
            "http://1.2.3.4/",
            "http://a/?q",
            "http://a/%20",
            "http://a\n",
            "http://a:123456/",
        ] {
            assert!(Rule::Url.check("url", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_optional_url_may_be_empty() {
        assert_eq!(Rule::OptionalUrl.check("coverImage", ""), Ok(()));
        assert_eq!(
            Rule::OptionalUrl.check("coverImage", "http://a/b.png"),
            Ok(())
        );
        assert!(Rule::OptionalUrl.check("coverImage", " ").is_err());
    }

    #[test]
    fn text_is_bounded_in_characters_not_bytes() {
        assert_eq!(Rule::Text.check("d", &"é".repeat(MAX_FIELD_LEN)), Ok(()));
        let error = Rule::Text.check("d", &"x".repeat(MAX_FIELD_LEN + 1));
        assert_eq!(error.unwrap_err().field, "d");
        assert!(
            Rule::Name
                .check("n", &"x".repeat(MAX_FIELD_LEN + 1))
                .is_err()
        );
    }
}
