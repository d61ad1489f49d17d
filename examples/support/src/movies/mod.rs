//! The movie service's data: the original project's `Movie` and `MovieGenre`, the
//! [`Rule`]s of their input fields, pages of lists, and the [`MovieStore`] with its
//! in-memory and `MongoDB` implementations.

mod memory;
mod model;
mod mongo;
mod page;
mod rules;
mod store;

pub use memory::MemoryMovieStore;
pub use model::{GenrePatch, Movie, MovieGenre, MoviePatch, NewGenre, NewMovie};
pub use mongo::MongoMovieStore;
pub use page::{DEFAULT_LIMIT, Listed, MAX_LIMIT, MAX_OFFSET, Page, PageError};
pub use rules::{
    Input, MAX_FIELD_LEN, NAME_PATTERN, OPTIONAL_URL_PATTERN, Rule, URL_PATTERN, ValidationError,
};
pub use store::{MovieStore, StoreError};
