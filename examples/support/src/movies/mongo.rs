//! [`MongoMovieStore`]: the `movies` and `movieGenres` collections, camelCase documents.

use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Document, doc};
use mongodb::options::ReturnDocument;
use mongodb::{Collection, Database};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::model::{GenrePatch, Movie, MovieGenre, MoviePatch, NewGenre, NewMovie};
use super::page::{Listed, Page};
use super::store::{MovieStore, StoreError};

/// The collection names, as in the original project.
const MOVIES: &str = "movies";
const GENRES: &str = "movieGenres";

/// Movies and genres in a `MongoDB` database (or a compatible server such as `FerretDB`).
#[derive(Debug, Clone)]
pub struct MongoMovieStore {
    db: Database,
    movies: Collection<MovieDoc>,
    genres: Collection<GenreDoc>,
}

/// A movie as stored: `_id` is a real `ObjectId`, other keys camelCase.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MovieDoc {
    #[serde(rename = "_id")]
    id: ObjectId,
    name: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    cover_image: String,
    #[serde(default)]
    description: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GenreDoc {
    #[serde(rename = "_id")]
    id: ObjectId,
    name: String,
    #[serde(default)]
    description: String,
}

impl From<MovieDoc> for Movie {
    fn from(doc: MovieDoc) -> Self {
        Self {
            id: doc.id.to_hex(),
            name: doc.name,
            url: doc.url,
            cover_image: doc.cover_image,
            description: doc.description,
        }
    }
}

impl From<GenreDoc> for MovieGenre {
    fn from(doc: GenreDoc) -> Self {
        Self {
            id: doc.id.to_hex(),
            name: doc.name,
            description: doc.description,
        }
    }
}

impl MongoMovieStore {
    /// A store over `db`. Nothing is sent to the server until the first call.
    pub fn new(db: Database) -> Self {
        Self {
            movies: db.collection(MOVIES),
            genres: db.collection(GENRES),
            db,
        }
    }

    /// The database this store writes to.
    pub fn database(&self) -> &Database {
        &self.db
    }
}

/// `{"$set": {...}}` of the fields present, or `None` when nothing changes.
fn set_fields(fields: &[(&str, &Option<String>)]) -> Option<Document> {
    let mut set = Document::new();
    for (key, value) in fields {
        if let Some(value) = value {
            set.insert(*key, value.as_str());
        }
    }
    (!set.is_empty()).then(|| doc! { "$set": set })
}

/// One page of `collection` in `_id` order (creation order, as ids are `ObjectId`s), and
/// the collection's size. [`Page`] keeps `skip` and `limit` within the server's signed
/// 64-bit range.
async fn list<D, T>(collection: &Collection<D>, page: Page) -> Result<Listed<T>, StoreError>
where
    D: DeserializeOwned + Send + Sync,
    T: From<D>,
{
    let cursor = collection
        .find(doc! {})
        .sort(doc! { "_id": 1 })
        .skip(page.offset())
        .limit(page.limit_i64())
        .await?;
    let docs: Vec<D> = cursor.try_collect().await?;
    let total = collection.count_documents(doc! {}).await?;
    Ok(Listed {
        items: docs.into_iter().map(T::from).collect(),
        total,
    })
}

#[async_trait]
impl MovieStore for MongoMovieStore {
    fn kind(&self) -> &'static str {
        "mongodb"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.db.run_command(doc! { "ping": 1 }).await?;
        Ok(())
    }

    async fn list_movies(&self, page: Page) -> Result<Listed<Movie>, StoreError> {
        list(&self.movies, page).await
    }

    async fn get_movie(&self, id: ObjectId) -> Result<Movie, StoreError> {
        self.movies
            .find_one(doc! { "_id": id })
            .await?
            .map(Movie::from)
            .ok_or(StoreError::NotFound)
    }

    async fn add_movie(&self, movie: NewMovie) -> Result<Movie, StoreError> {
        let doc = MovieDoc {
            id: ObjectId::new(),
            name: movie.name,
            url: movie.url,
            cover_image: movie.cover_image,
            description: movie.description,
        };
        self.movies.insert_one(&doc).await?;
        Ok(doc.into())
    }

    async fn update_movie(&self, id: ObjectId, patch: MoviePatch) -> Result<Movie, StoreError> {
        let Some(update) = set_fields(&[
            ("name", &patch.name),
            ("url", &patch.url),
            ("coverImage", &patch.cover_image),
            ("description", &patch.description),
        ]) else {
            return self.get_movie(id).await;
        };
        self.movies
            .find_one_and_update(doc! { "_id": id }, update)
            .return_document(ReturnDocument::After)
            .await?
            .map(Movie::from)
            .ok_or(StoreError::NotFound)
    }

    async fn delete_movie(&self, id: ObjectId) -> Result<(), StoreError> {
        let result = self.movies.delete_one(doc! { "_id": id }).await?;
        if result.deleted_count == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn list_genres(&self, page: Page) -> Result<Listed<MovieGenre>, StoreError> {
        list(&self.genres, page).await
    }

    async fn get_genre(&self, id: ObjectId) -> Result<MovieGenre, StoreError> {
        self.genres
            .find_one(doc! { "_id": id })
            .await?
            .map(MovieGenre::from)
            .ok_or(StoreError::NotFound)
    }

    async fn add_genre(&self, genre: NewGenre) -> Result<MovieGenre, StoreError> {
        let doc = GenreDoc {
            id: ObjectId::new(),
            name: genre.name,
            description: genre.description,
        };
        self.genres.insert_one(&doc).await?;
        Ok(doc.into())
    }

    async fn update_genre(
        &self,
        id: ObjectId,
        patch: GenrePatch,
    ) -> Result<MovieGenre, StoreError> {
        let Some(update) =
            set_fields(&[("name", &patch.name), ("description", &patch.description)])
        else {
            return self.get_genre(id).await;
        };
        self.genres
            .find_one_and_update(doc! { "_id": id }, update)
            .return_document(ReturnDocument::After)
            .await?
            .map(MovieGenre::from)
            .ok_or(StoreError::NotFound)
    }

    async fn delete_genre(&self, id: ObjectId) -> Result<(), StoreError> {
        let result = self.genres.delete_one(doc! { "_id": id }).await?;
        if result.deleted_count == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
