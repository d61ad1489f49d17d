//! The "recommendation engine": a deterministic score per (user, movie), highest wins.
//!
//! Deterministic on purpose: the same list gives the same pick, so the recommendation
//! served from the fallback list is the one last served live, which makes the fallback
//! easy to see (and to test).

use serde::Deserialize;

/// A movie as the movie service lists it: only the name matters here; the other
/// fields (`id`, `url`, `coverImage`, `description`) and any new ones are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Movie {
    /// The title.
    pub name: String,
}

/// Picks the movie with the highest score for `user`; ties go to the smaller name.
pub fn recommend<'a>(user: &str, movies: &'a [Movie]) -> Option<&'a Movie> {
    movies.iter().max_by(|a, b| {
        score(user, a)
            .cmp(&score(user, b))
            .then_with(|| b.name.cmp(&a.name))
    })
}

/// FNV-1a over `user`, a separator and the movie's name: stable across runs and
/// platforms, unlike `std`'s randomly seeded hasher. The name rather than the id, because
/// instances with in-memory stores give the same movie different ids.
fn score(user: &str, movie: &Movie) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in user.bytes().chain([0]).chain(movie.name.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn movie(name: &str) -> Movie {
        Movie {
            name: name.to_owned(),
        }
    }

    #[test]
    fn an_empty_list_recommends_nothing() {
        assert_eq!(recommend("admin", &[]), None);
    }

    #[test]
    fn the_pick_does_not_depend_on_the_list_order() {
        let movies = vec![movie("Alien"), movie("Brazil"), movie("Casablanca")];
        let mut reversed = movies.clone();
        reversed.reverse();
        assert_eq!(recommend("admin", &movies), recommend("admin", &reversed));
    }

    #[test]
    fn different_users_can_get_different_picks() {
        let movies: Vec<Movie> = (0..20).map(|i| movie(&format!("Movie {i}"))).collect();
        let picks: std::collections::HashSet<_> = ["ann", "bob", "cid", "dee", "eve"]
            .iter()
            .map(|user| recommend(user, &movies).map(|m| m.name.clone()))
            .collect();
        assert!(picks.len() > 1, "every user got the same pick: {picks:?}");
    }

    #[test]
    fn movies_parse_from_the_service_shape() {
        let movies: Vec<Movie> = serde_json::from_str(
            r#"[{"id":"65f0c0ffee0000000000abcd","name":"Alien","url":"https://example.org/alien","coverImage":"x","description":"y"}]"#,
        )
        .unwrap();
        assert_eq!(movies[0].name, "Alien");
    }
}
