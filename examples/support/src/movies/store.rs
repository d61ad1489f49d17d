//! The [`MovieStore`] trait and its error.

use async_trait::async_trait;
use mongodb::bson::oid::ObjectId;

use super::model::{GenrePatch, Movie, MovieGenre, MoviePatch, NewGenre, NewMovie};
use super::page::{Listed, Page};

/// Where movies and genres live. Object-safe, so the service holds an
/// `Arc<dyn MovieStore>` and picks the implementation at start-up.
///
/// Callers validate input before calling; stores only store.
#[async_trait]
pub trait MovieStore: Send + Sync + std::fmt::Debug + 'static {
    /// A short name for logs: `"memory"` or `"mongodb"`.
    fn kind(&self) -> &'static str;

    /// Succeeds when the backing store answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// One page of the movies, oldest first, and how many there are.
    async fn list_movies(&self, page: Page) -> Result<Listed<Movie>, StoreError>;
    /// One movie, or [`StoreError::NotFound`].
    async fn get_movie(&self, id: ObjectId) -> Result<Movie, StoreError>;
    /// Stores a new movie under a fresh id and returns it.
    async fn add_movie(&self, movie: NewMovie) -> Result<Movie, StoreError>;
    /// Changes the fields present in `patch`; returns the movie as it now is.
    async fn update_movie(&self, id: ObjectId, patch: MoviePatch) -> Result<Movie, StoreError>;
    /// Removes a movie, or [`StoreError::NotFound`].
    async fn delete_movie(&self, id: ObjectId) -> Result<(), StoreError>;

    /// One page of the genres, oldest first, and how many there are.
    async fn list_genres(&self, page: Page) -> Result<Listed<MovieGenre>, StoreError>;
    /// One genre, or [`StoreError::NotFound`].
    async fn get_genre(&self, id: ObjectId) -> Result<MovieGenre, StoreError>;
    /// Stores a new genre under a fresh id and returns it.
    async fn add_genre(&self, genre: NewGenre) -> Result<MovieGenre, StoreError>;
    /// Changes the fields present in `patch`; returns the genre as it now is.
    async fn update_genre(&self, id: ObjectId, patch: GenrePatch)
    -> Result<MovieGenre, StoreError>;
    /// Removes a genre, or [`StoreError::NotFound`].
    async fn delete_genre(&self, id: ObjectId) -> Result<(), StoreError>;
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No record has this id.
    #[error("not found")]
    NotFound,
    /// The database could not be reached or refused the operation.
    #[error("database error: {0}")]
    Database(#[from] mongodb::error::Error),
}
