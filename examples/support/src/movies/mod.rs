//! The movie service's data: the original project's `Movie` and `MovieGenre`, their validation, and
//! the [`MovieStore`] with its in-memory and `MongoDB` implementations.

mod memory;
mod model;
mod mongo;
mod store;

pub use memory::MemoryMovieStore;
pub use model::{
    GenrePatch, MAX_FIELD_LEN, Movie, MovieGenre, MoviePatch, NewGenre, NewMovie, ValidationError,
};
pub use mongo::MongoMovieStore;
pub use store::{MovieStore, StoreError};
