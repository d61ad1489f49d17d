//! The movie service's data: the seed's `Movie` and `MovieGenre`, their validation, and
//! the [`MovieStore`] with its in-memory and `MongoDB` implementations.

mod memory;
mod model;
mod mongo;
mod store;

pub(crate) use memory::MemoryMovieStore;
#[allow(unused_imports)] // MAX_FIELD_LEN is for tests.
pub(crate) use model::{
    GenrePatch, MAX_FIELD_LEN, Movie, MovieGenre, MoviePatch, NewGenre, NewMovie,
};
pub(crate) use mongo::MongoMovieStore;
pub(crate) use store::{MovieStore, StoreError};
