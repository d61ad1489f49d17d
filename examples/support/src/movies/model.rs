//! The original project's models, as JSON with camelCase keys, and the [`Rule`]s of their
//! input fields.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::rules::{Input, Rule};

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
#[serde(rename_all = "camelCase")]
pub struct NewMovie {
    /// The title: required, at most 400 characters, not only whitespace.
    #[schema(example = "Big Buck Bunny")]
    pub name: String,
    /// An absolute `http`/`https` URL: required.
    #[schema(example = "https://peach.blender.org/")]
    pub url: String,
    /// An absolute `http`/`https` URL, or empty (the default).
    #[serde(default)]
    pub cover_image: String,
    /// At most 400 characters; empty by default.
    #[serde(default)]
    pub description: String,
}

/// The body of `PATCH /api/v1/movies/{id}`: only the fields present change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct MoviePatch {
    /// A new title (`null` or absent: unchanged).
    pub name: Option<String>,
    /// A new URL (`null` or absent: unchanged).
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
#[serde(rename_all = "camelCase")]
pub struct NewGenre {
    /// Required, at most 400 characters, not only whitespace.
    #[schema(example = "Animation")]
    pub name: String,
    /// At most 400 characters; empty by default.
    #[serde(default)]
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

impl Input for NewMovie {
    const RULES: &'static [(&'static str, Rule)] = &[
        ("name", Rule::Name),
        ("url", Rule::Url),
        ("coverImage", Rule::OptionalUrl),
        ("description", Rule::Text),
    ];

    fn values(&self) -> Vec<Option<&str>> {
        vec![
            Some(&self.name),
            Some(&self.url),
            Some(&self.cover_image),
            Some(&self.description),
        ]
    }
}

impl Input for MoviePatch {
    const RULES: &'static [(&'static str, Rule)] = NewMovie::RULES;

    fn values(&self) -> Vec<Option<&str>> {
        vec![
            self.name.as_deref(),
            self.url.as_deref(),
            self.cover_image.as_deref(),
            self.description.as_deref(),
        ]
    }
}

impl MoviePatch {
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

impl Input for NewGenre {
    const RULES: &'static [(&'static str, Rule)] =
        &[("name", Rule::Name), ("description", Rule::Text)];

    fn values(&self) -> Vec<Option<&str>> {
        vec![Some(&self.name), Some(&self.description)]
    }
}

impl Input for GenrePatch {
    const RULES: &'static [(&'static str, Rule)] = NewGenre::RULES;

    fn values(&self) -> Vec<Option<&str>> {
        vec![self.name.as_deref(), self.description.as_deref()]
    }
}

impl GenrePatch {
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

#[cfg(test)]
mod tests {
    use serde_json::json;
    use utoipa::PartialSchema;

    use super::*;
    use crate::movies::MAX_FIELD_LEN;

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

    #[test]
    fn name_and_url_are_required_in_the_schema_and_in_the_body() {
        for body in [json!({}), json!({"name": "A"}), json!({"url": "http://a"})] {
            assert!(
                serde_json::from_value::<NewMovie>(body.clone()).is_err(),
                "{body}"
            );
        }
        let new: NewMovie =
            serde_json::from_value(json!({"name": "A", "url": "http://a"})).unwrap();
        assert_eq!(
            (new.cover_image.as_str(), new.description.as_str()),
            ("", "")
        );
        assert!(serde_json::from_value::<NewGenre>(json!({})).is_err());

        let schema = serde_json::to_value(NewMovie::schema()).unwrap();
        assert_eq!(schema["required"], json!(["name", "url"]));
        let schema = serde_json::to_value(NewGenre::schema()).unwrap();
        assert_eq!(schema["required"], json!(["name"]));
    }

    #[test]
    fn the_rules_name_every_text_field_of_the_schemas() {
        fn keys<T: PartialSchema>() -> Vec<String> {
            let schema = serde_json::to_value(T::schema()).unwrap();
            let mut keys: Vec<_> = schema["properties"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            keys.sort();
            keys
        }
        fn rules<T: Input>() -> Vec<String> {
            let mut keys: Vec<_> = T::RULES.iter().map(|(k, _)| (*k).to_owned()).collect();
            keys.sort();
            keys
        }
        assert_eq!(keys::<NewMovie>(), rules::<NewMovie>());
        assert_eq!(keys::<MoviePatch>(), rules::<MoviePatch>());
        assert_eq!(keys::<NewGenre>(), rules::<NewGenre>());
        assert_eq!(keys::<GenrePatch>(), rules::<GenrePatch>());
        assert_eq!(NewMovie::default().values().len(), NewMovie::RULES.len());
        assert_eq!(
            MoviePatch::default().values().len(),
            MoviePatch::RULES.len()
        );
        assert_eq!(NewGenre::default().values().len(), NewGenre::RULES.len());
        assert_eq!(
            GenrePatch::default().values().len(),
            GenrePatch::RULES.len()
        );
    }

    #[test]
    fn a_patch_checks_only_the_fields_present() {
        let patch = MoviePatch {
            url: Some("not a url".to_owned()),
            ..MoviePatch::default()
        };
        assert_eq!(patch.validate().unwrap_err().field, "url");
        let patch = GenrePatch {
            name: Some(" ".to_owned()),
            ..GenrePatch::default()
        };
        assert_eq!(patch.validate().unwrap_err().field, "name");
    }
}
