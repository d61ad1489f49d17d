//! [`MemoryMovieStore`]: the store used when no database is configured.

use std::sync::RwLock;

use async_trait::async_trait;
use mongodb::bson::oid::ObjectId;

use super::model::{GenrePatch, Movie, MovieGenre, MoviePatch, NewGenre, NewMovie};
use super::page::{Listed, Page};
use super::store::{MovieStore, StoreError};

/// Movies and genres in process memory, lost at exit. Ids are `ObjectId`s, as in the
/// `MongoDB` store, so clients cannot tell the two apart.
#[derive(Debug, Default)]
pub struct MemoryMovieStore {
    movies: RwLock<Vec<Movie>>,
    genres: RwLock<Vec<MovieGenre>>,
}

impl MemoryMovieStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store holding a few open movies and genres, so that a fresh `cargo run` has
    /// something to list. Their ids are fixed, so that several instances (behind a
    /// gateway) and restarts agree on them.
    pub fn seeded() -> Self {
        let store = Self::new();
        {
            let mut movies = store.movies.write().expect("fresh lock");
            for (id, name, url, description) in [
                (
                    "5eed00000000000000000001",
                    "Big Buck Bunny",
                    "https://peach.blender.org/",
                    "A giant rabbit takes on three bullies.",
                ),
                (
                    "5eed00000000000000000002",
                    "Sintel",
                    "https://durian.blender.org/",
                    "A girl searches for her lost baby dragon.",
                ),
                (
                    "5eed00000000000000000003",
                    "Tears of Steel",
                    "https://mango.blender.org/",
                    "Warriors and scientists try to save the world from robots.",
                ),
            ] {
                movies.push(Movie {
                    id: id.to_owned(),
                    name: name.to_owned(),
                    url: url.to_owned(),
                    cover_image: String::new(),
                    description: description.to_owned(),
                });
            }
            let mut genres = store.genres.write().expect("fresh lock");
            for (id, name, description) in [
                (
                    "5eed00000000000000000101",
                    "Animation",
                    "Drawn, modelled or rendered.",
                ),
                (
                    "5eed00000000000000000102",
                    "Science fiction",
                    "Futures, robots and other worlds.",
                ),
            ] {
                genres.push(MovieGenre {
                    id: id.to_owned(),
                    name: name.to_owned(),
                    description: description.to_owned(),
                });
            }
        }
        store
    }
}

// A poisoned lock means a panic mid-update of a Vec push/retain/assign, which leaves the
// Vec consistent; carrying on is safe.
macro_rules! read {
    ($lock:expr) => {
        $lock
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
}
macro_rules! write {
    ($lock:expr) => {
        $lock
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
}

#[async_trait]
impl MovieStore for MemoryMovieStore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn list_movies(&self, page: Page) -> Result<Listed<Movie>, StoreError> {
        let movies = read!(self.movies);
        Ok(Listed {
            items: page.slice(&movies),
            total: movies.len() as u64,
        })
    }

    async fn get_movie(&self, id: ObjectId) -> Result<Movie, StoreError> {
        let id = id.to_hex();
        read!(self.movies)
            .iter()
            .find(|m| m.id == id)
            .cloned()
            .ok_or(StoreError::NotFound)
    }

    async fn add_movie(&self, movie: NewMovie) -> Result<Movie, StoreError> {
        let movie = Movie {
            id: ObjectId::new().to_hex(),
            name: movie.name,
            url: movie.url,
            cover_image: movie.cover_image,
            description: movie.description,
        };
        write!(self.movies).push(movie.clone());
        Ok(movie)
    }

    async fn update_movie(&self, id: ObjectId, patch: MoviePatch) -> Result<Movie, StoreError> {
        let id = id.to_hex();
        let mut movies = write!(self.movies);
        let movie = movies
            .iter_mut()
            .find(|m| m.id == id)
            .ok_or(StoreError::NotFound)?;
        patch.apply(movie);
        Ok(movie.clone())
    }

    async fn delete_movie(&self, id: ObjectId) -> Result<(), StoreError> {
        let id = id.to_hex();
        let mut movies = write!(self.movies);
        let before = movies.len();
        movies.retain(|m| m.id != id);
        if movies.len() == before {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn list_genres(&self, page: Page) -> Result<Listed<MovieGenre>, StoreError> {
        let genres = read!(self.genres);
        Ok(Listed {
            items: page.slice(&genres),
            total: genres.len() as u64,
        })
    }

    async fn get_genre(&self, id: ObjectId) -> Result<MovieGenre, StoreError> {
        let id = id.to_hex();
        read!(self.genres)
            .iter()
            .find(|g| g.id == id)
            .cloned()
            .ok_or(StoreError::NotFound)
    }

    async fn add_genre(&self, genre: NewGenre) -> Result<MovieGenre, StoreError> {
        let genre = MovieGenre {
            id: ObjectId::new().to_hex(),
            name: genre.name,
            description: genre.description,
        };
        write!(self.genres).push(genre.clone());
        Ok(genre)
    }

    async fn update_genre(
        &self,
        id: ObjectId,
        patch: GenrePatch,
    ) -> Result<MovieGenre, StoreError> {
        let id = id.to_hex();
        let mut genres = write!(self.genres);
        let genre = genres
            .iter_mut()
            .find(|g| g.id == id)
            .ok_or(StoreError::NotFound)?;
        patch.apply(genre);
        Ok(genre.clone())
    }

    async fn delete_genre(&self, id: ObjectId) -> Result<(), StoreError> {
        let id = id.to_hex();
        let mut genres = write!(self.genres);
        let before = genres.len();
        genres.retain(|g| g.id != id);
        if genres.len() == before {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
