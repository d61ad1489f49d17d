//! The original project's models, as JSON with camelCase keys, and their validation.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The longest accepted text field, in characters.
pub const MAX_FIELD_LEN: usize = 400;

/// A movie, as listed and stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Movie {
    /// A 24-hex-digit `ObjectId`.
    #[schema(example = "5f1e0b3c9d3e2a1b4c5d6e7f")]
    pub id: String,
    /// The title.
    #[schema(example = "Big Buck Bunny")]
    pub name: String,
    /// Where to watch it.
    #[schema(example = "https://peach.blender.org/")]
    pub url: String,
    /// A poster image URL, or empty.
    pub cover_image: String,
    /// A short description, or empty.
    pub description: String,
}

/// The body of `POST /api/v1/movies`: `name` and `url` are required.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct NewMovie {
    /// The title: required, at most 400 characters.
    #[schema(example = "Big Buck Bunny")]
    pub name: String,
    /// An absolute `http`/`https` URL: required.
    #[schema(example = "https://peach.blender.org/")]
    pub url: String,
    /// An absolute `http`/`https` URL, or empty.
    pub cover_image: String,
    /// At most 400 characters.
    pub description: String,
}

/// The body of `PATCH /api/v1/movies/{id}`: only the fields present change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct MoviePatch {
    /// A new title.
    pub name: Option<String>,
    /// A new URL.
    pub url: Option<String>,
    /// A new poster URL (empty removes it).
    pub cover_image: Option<String>,
    /// A new description.
    pub description: Option<String>,
}

/// A genre, as the original project's `MovieGenre`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MovieGenre {
    /// A 24-hex-digit `ObjectId`.
    pub id: String,
    /// The genre's name.
    #[schema(example = "Animation")]
    pub name: String,
    /// A short description, or empty.
    pub description: String,
}

/// The body of `POST /api/v1/genres`: `name` is required.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct NewGenre {
    /// Required, at most 400 characters.
    pub name: String,
    /// At most 400 characters.
    pub description: String,
}

/// The body of `PATCH /api/v1/genres/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct GenrePatch {
    /// A new name.
    pub name: Option<String>,
    /// A new description.
    pub description: Option<String>,
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

impl NewMovie {
    /// Checks every field; the first problem found is returned.
    pub fn validate(&self) -> Result<(), ValidationError> {
        required_text("name", &self.name)?;
        required_url("url", &self.url)?;
        optional_url("coverImage", &self.cover_image)?;
        bounded("description", &self.description)
    }
}

impl MoviePatch {
    /// Checks the fields present.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if let Some(name) = &self.name {
            required_text("name", name)?;
        }
        if let Some(url) = &self.url {
            required_url("url", url)?;
        }
        if let Some(cover) = &self.cover_image {
            optional_url("coverImage", cover)?;
        }
        if let Some(description) = &self.description {
            bounded("description", description)?;
        }
        Ok(())
    }

    /// Applies the patch to `movie`.
    pub fn apply(self, movie: &mut Movie) {
        if let Some(name) = self.name {
            movie.name = name;
        }
        if let Some(url) = self.url {
            movie.url = url;
        }
        if let Some(cover) = self.cover_image {
            movie.cover_image = cover;
        }
        if let Some(description) = self.description {
            movie.description = description;
        }
    }
}

impl NewGenre {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), ValidationError> {
        required_text("name", &self.name)?;
        bounded("description", &self.description)
    }
}

impl GenrePatch {
    /// Checks the fields present.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if let Some(name) = &self.name {
            required_text("name", name)?;
        }
        if let Some(description) = &self.description {
            bounded("description", description)?;
        }
        Ok(())
    }

    /// Applies the patch to `genre`.
    pub fn apply(self, genre: &mut MovieGenre) {
        if let Some(name) = self.name {
            genre.name = name;
        }
        if let Some(description) = self.description {
            genre.description = description;
        }
    }
}

fn bounded(field: &'static str, value: &str) -> Result<(), ValidationError> {
    if value.chars().count() > MAX_FIELD_LEN {
        return Err(ValidationError {
            field,
            reason: "must be at most 400 characters",
        });
    }
    Ok(())
}

fn required_text(field: &'static str, value: &str) -> Result<(), ValidationError> {
    if value.trim().is_empty() {
        return Err(ValidationError {
            field,
            reason: "is required",
        });
    }
    bounded(field, value)
}

fn required_url(field: &'static str, value: &str) -> Result<(), ValidationError> {
    required_text(field, value)?;
    match url::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Ok(()),
        _ => Err(ValidationError {
            field,
            reason: "must be an absolute http or https URL",
        }),
    }
}

fn optional_url(field: &'static str, value: &str) -> Result<(), ValidationError> {
    if value.is_empty() {
        Ok(())
    } else {
        required_url(field, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn movie() -> NewMovie {
        NewMovie {
            name: "Sintel".to_owned(),
            url: "https://durian.blender.org/".to_owned(),
            ..NewMovie::default()
        }
    }

    #[test]
    fn a_named_movie_with_a_url_is_valid() {
        assert_eq!(movie().validate(), Ok(()));
    }

    #[test]
    fn a_blank_name_is_rejected() {
        let new = NewMovie {
            name: "  ".to_owned(),
            ..movie()
        };
        assert_eq!(new.validate().unwrap_err().field, "name");
    }

    #[test]
    fn a_relative_or_non_http_url_is_rejected() {
        for url in [
            "/movies/1",
            "javascript:alert(1)",
            "ftp://example.com/x",
            "not a url",
        ] {
            let new = NewMovie {
                url: url.to_owned(),
                ..movie()
            };
            assert_eq!(new.validate().unwrap_err().field, "url", "{url}");
        }
    }

    #[test]
    fn fields_longer_than_the_bound_are_rejected() {
        let new = NewMovie {
            description: "x".repeat(MAX_FIELD_LEN + 1),
            ..movie()
        };
        assert_eq!(new.validate().unwrap_err().field, "description");
    }

    #[test]
    fn an_empty_patch_is_valid_and_changes_nothing() {
        let mut stored = Movie {
            id: "1".to_owned(),
            name: "A".to_owned(),
            url: "https://a.example/".to_owned(),
            cover_image: String::new(),
            description: String::new(),
        };
        let before = stored.clone();
        MoviePatch::default().validate().unwrap();
        MoviePatch::default().apply(&mut stored);
        assert_eq!(stored, before);
    }
}
