//! The movie service's data: the seed's `Movie` and `MovieGenre`, their validation, and
//! the [`MovieStore`] with its in-memory and `MongoDB` implementations.

// The user service includes `support` too and uses none of this.
#![allow(unused_imports)]

mod memory;
mod model;
mod mongo;
mod store;

pub(crate) use memory::MemoryMovieStore;
pub(crate) use model::{
    GenrePatch, MAX_FIELD_LEN, Movie, MovieGenre, MoviePatch, NewGenre, NewMovie,
};
pub(crate) use mongo::MongoMovieStore;
pub(crate) use store::{MovieStore, StoreError};
