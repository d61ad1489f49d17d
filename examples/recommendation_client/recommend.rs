//! The "recommendation engine": a deterministic score per (user, movie), highest wins.
//!
//! Deterministic on purpose: the same list gives the same pick, so the recommendation
//! served from the fallback list is the one last served live, which makes the fallback
//! easy to see (and to test).

use serde::Deserialize;

/// A movie as the movie service lists it (the seed's fields; unknown fields ignored).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Movie {
    /// The store's id (absent in some stores' output; the name is used instead).
    #[serde(default)]
    pub(crate) id: Option<String>,
    /// The title.
    pub(crate) name: String,
    /// Where to watch it.
    #[serde(default)]
    pub(crate) url: Option<String>,
}

/// Picks the movie with the highest score for `user`; ties go to the smaller name.
pub(crate) fn recommend<'a>(user: &str, movies: &'a [Movie]) -> Option<&'a Movie> {
    movies.iter().max_by(|a, b| {
        score(user, a)
            .cmp(&score(user, b))
            .then_with(|| b.name.cmp(&a.name))
    })
}

/// FNV-1a over `user`, a separator and the movie's id (or name): stable across runs and
/// platforms, unlike `std`'s randomly seeded hasher.
fn score(user: &str, movie: &Movie) -> u64 {
    let key = movie.id.as_deref().unwrap_or(&movie.name);
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in user.bytes().chain([0]).chain(key.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn movie(id: &str, name: &str) -> Movie {
        Movie {
            id: Some(id.to_owned()),
            name: name.to_owned(),
            url: None,
        }
    }

    #[test]
    fn an_empty_list_recommends_nothing() {
        assert_eq!(recommend("admin", &[]), None);
    }

    #[test]
    fn the_pick_does_not_depend_on_the_list_order() {
        let movies = vec![
            movie("1", "Alien"),
            movie("2", "Brazil"),
            movie("3", "Casablanca"),
        ];
        let mut reversed = movies.clone();
        reversed.reverse();
        assert_eq!(recommend("admin", &movies), recommend("admin", &reversed));
    }

    #[test]
    fn different_users_can_get_different_picks() {
        let movies: Vec<Movie> = (0..20)
            .map(|i| movie(&i.to_string(), &format!("Movie {i}")))
            .collect();
        let picks: std::collections::HashSet<_> = ["ann", "bob", "cid", "dee", "eve"]
            .iter()
            .map(|user| recommend(user, &movies).map(|m| m.name.clone()))
            .collect();
        assert!(picks.len() > 1, "every user got the same pick: {picks:?}");
    }

    #[test]
    fn movies_parse_from_the_seed_shape() {
        let movies: Vec<Movie> = serde_json::from_str(
            r#"[{"id":"65f0c0ffee0000000000abcd","name":"Alien","url":"https://example.org/alien","coverImage":"x","description":"y"}]"#,
        )
        .unwrap();
        assert_eq!(movies[0].name, "Alien");
        assert_eq!(movies[0].id.as_deref(), Some("65f0c0ffee0000000000abcd"));
    }
}
