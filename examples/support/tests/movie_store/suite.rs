//! The behaviour every `MovieStore` must show, as one suite run against each
//! implementation. Each case gets a fresh, empty store from `make_store`.

use std::future::Future;
use std::sync::Arc;

use mongodb::bson::oid::ObjectId;

use portcullis_examples::movies::{
    GenrePatch, MAX_FIELD_LEN, MAX_LIMIT, MAX_OFFSET, MoviePatch, MovieStore, NewGenre, NewMovie,
    Page, StoreError,
};

/// Runs every case, each on a new store.
pub(crate) async fn run_all<F, Fut>(make_store: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn MovieStore>>,
{
    answers_a_ping(make_store().await).await;
    a_new_store_lists_nothing(make_store().await).await;
    an_added_movie_is_listed_and_fetchable(make_store().await).await;
    movies_are_listed_oldest_first(make_store().await).await;
    a_patch_changes_only_the_fields_given(make_store().await).await;
    an_empty_patch_changes_nothing(make_store().await).await;
    a_missing_movie_is_not_found_everywhere(make_store().await).await;
    a_deleted_movie_is_gone(make_store().await).await;
    long_and_unicode_fields_round_trip(make_store().await).await;
    genres_have_the_same_life_cycle(make_store().await).await;
    movies_and_genres_are_kept_apart(make_store().await).await;
    pages_skip_take_and_count(make_store().await).await;
    the_largest_offset_and_limit_are_served(make_store().await).await;
}

fn new_movie(name: &str) -> NewMovie {
    NewMovie {
        name: name.to_owned(),
        url: format!(
            "https://movies.example/{}",
            name.to_lowercase().replace(' ', "-")
        ),
        cover_image: String::new(),
        description: format!("About {name}."),
    }
}

fn is_object_id(id: &str) -> bool {
    id.len() == 24 && ObjectId::parse_str(id).is_ok()
}

async fn answers_a_ping(store: Arc<dyn MovieStore>) {
    store.ping().await.expect("ping");
}

async fn a_new_store_lists_nothing(store: Arc<dyn MovieStore>) {
    assert!(
        store
            .list_movies(Page::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(
        store
            .list_genres(Page::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

async fn an_added_movie_is_listed_and_fetchable(store: Arc<dyn MovieStore>) {
    let movie = NewMovie {
        cover_image: "https://movies.example/bbb.png".to_owned(),
        ..new_movie("Big Buck Bunny")
    };
    let added = store.add_movie(movie.clone()).await.unwrap();
    assert!(
        is_object_id(&added.id),
        "id {:?} is not an ObjectId",
        added.id
    );
    assert_eq!(added.name, movie.name);
    assert_eq!(added.url, movie.url);
    assert_eq!(added.cover_image, movie.cover_image);
    assert_eq!(added.description, movie.description);

    assert_eq!(
        store.list_movies(Page::default()).await.unwrap().items,
        vec![added.clone()]
    );
    let id = ObjectId::parse_str(&added.id).unwrap();
    assert_eq!(store.get_movie(id).await.unwrap(), added);
}

async fn movies_are_listed_oldest_first(store: Arc<dyn MovieStore>) {
    let mut added = Vec::new();
    for name in ["First", "Second", "Third"] {
        added.push(store.add_movie(new_movie(name)).await.unwrap());
    }
    let names: Vec<_> = store
        .list_movies(Page::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(names, ["First", "Second", "Third"]);
    let ids: std::collections::HashSet<_> = added.iter().map(|m| &m.id).collect();
    assert_eq!(ids.len(), 3, "ids must be distinct");
}

async fn a_patch_changes_only_the_fields_given(store: Arc<dyn MovieStore>) {
    let added = store.add_movie(new_movie("Sintel")).await.unwrap();
    let id = ObjectId::parse_str(&added.id).unwrap();
    let patch = MoviePatch {
        description: Some("A girl and her dragon.".to_owned()),
        ..MoviePatch::default()
    };
    let updated = store.update_movie(id, patch).await.unwrap();
    assert_eq!(updated.description, "A girl and her dragon.");
    assert_eq!(updated.name, added.name);
    assert_eq!(updated.url, added.url);
    assert_eq!(updated.id, added.id);
    assert_eq!(store.get_movie(id).await.unwrap(), updated);
}

async fn an_empty_patch_changes_nothing(store: Arc<dyn MovieStore>) {
    let added = store
        .add_movie(new_movie("Cosmos Laundromat"))
        .await
        .unwrap();
    let id = ObjectId::parse_str(&added.id).unwrap();
    let same = store.update_movie(id, MoviePatch::default()).await.unwrap();
    assert_eq!(same, added);
}

async fn a_missing_movie_is_not_found_everywhere(store: Arc<dyn MovieStore>) {
    store.add_movie(new_movie("Present")).await.unwrap();
    let missing = ObjectId::new();
    assert!(matches!(
        store.get_movie(missing).await,
        Err(StoreError::NotFound)
    ));
    let patch = MoviePatch {
        name: Some("Ghost".to_owned()),
        ..MoviePatch::default()
    };
    assert!(matches!(
        store.update_movie(missing, patch).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.update_movie(missing, MoviePatch::default()).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_movie(missing).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store
            .list_movies(Page::default())
            .await
            .unwrap()
            .items
            .len(),
        1,
        "nothing was created"
    );
}

async fn a_deleted_movie_is_gone(store: Arc<dyn MovieStore>) {
    let keep = store.add_movie(new_movie("Keep")).await.unwrap();
    let gone = store.add_movie(new_movie("Gone")).await.unwrap();
    let gone_id = ObjectId::parse_str(&gone.id).unwrap();
    store.delete_movie(gone_id).await.unwrap();
    assert_eq!(
        store.list_movies(Page::default()).await.unwrap().items,
        vec![keep]
    );
    assert!(matches!(
        store.get_movie(gone_id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_movie(gone_id).await,
        Err(StoreError::NotFound)
    ));
}

async fn long_and_unicode_fields_round_trip(store: Arc<dyn MovieStore>) {
    let movie = NewMovie {
        name: "Amélie — 天使 🎬".to_owned(),
        url: "https://movies.example/am%C3%A9lie?x=1&y=2".to_owned(),
        cover_image: String::new(),
        description: "é".repeat(MAX_FIELD_LEN),
    };
    let added = store.add_movie(movie.clone()).await.unwrap();
    let fetched = store
        .get_movie(ObjectId::parse_str(&added.id).unwrap())
        .await
        .unwrap();
    assert_eq!(fetched.name, movie.name);
    assert_eq!(fetched.url, movie.url);
    assert_eq!(fetched.description, movie.description);
}

async fn genres_have_the_same_life_cycle(store: Arc<dyn MovieStore>) {
    let added = store
        .add_genre(NewGenre {
            name: "Animation".to_owned(),
            description: "Drawn or rendered.".to_owned(),
        })
        .await
        .unwrap();
    assert!(is_object_id(&added.id));
    let id = ObjectId::parse_str(&added.id).unwrap();
    assert_eq!(
        store.list_genres(Page::default()).await.unwrap().items,
        vec![added.clone()]
    );
    assert_eq!(store.get_genre(id).await.unwrap(), added);

    let patch = GenrePatch {
        name: Some("Animated".to_owned()),
        ..GenrePatch::default()
    };
    let updated = store.update_genre(id, patch).await.unwrap();
    assert_eq!(updated.name, "Animated");
    assert_eq!(updated.description, added.description);
    assert_eq!(
        store.update_genre(id, GenrePatch::default()).await.unwrap(),
        updated
    );

    store.delete_genre(id).await.unwrap();
    assert!(
        store
            .list_genres(Page::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(matches!(
        store.get_genre(id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_genre(id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.update_genre(id, GenrePatch::default()).await,
        Err(StoreError::NotFound)
    ));
}

async fn movies_and_genres_are_kept_apart(store: Arc<dyn MovieStore>) {
    let movie = store.add_movie(new_movie("Spring")).await.unwrap();
    let genre = store
        .add_genre(NewGenre {
            name: "Fantasy".to_owned(),
            description: String::new(),
        })
        .await
        .unwrap();
    assert_eq!(
        store.list_movies(Page::default()).await.unwrap().items,
        vec![movie.clone()]
    );
    assert_eq!(
        store.list_genres(Page::default()).await.unwrap().items,
        vec![genre.clone()]
    );
    let movie_id = ObjectId::parse_str(&movie.id).unwrap();
    let genre_id = ObjectId::parse_str(&genre.id).unwrap();
    assert!(matches!(
        store.get_genre(movie_id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_movie(genre_id).await,
        Err(StoreError::NotFound)
    ));
}

async fn pages_skip_take_and_count(store: Arc<dyn MovieStore>) {
    for name in ["One", "Two", "Three", "Four", "Five"] {
        store.add_movie(new_movie(name)).await.unwrap();
    }
    store
        .add_genre(NewGenre {
            name: "Only".to_owned(),
            description: String::new(),
        })
        .await
        .unwrap();
    let page = store.list_movies(Page::new(1, 2).unwrap()).await.unwrap();
    let names: Vec<_> = page.items.iter().map(|m| m.name.as_str()).collect();
    assert_eq!((names, page.total), (vec!["Two", "Three"], 5));
    let last = store.list_movies(Page::new(4, 2).unwrap()).await.unwrap();
    assert_eq!((last.items.len(), last.total), (1, 5));
    let past = store.list_movies(Page::new(9, 2).unwrap()).await.unwrap();
    assert_eq!((past.items.len(), past.total), (0, 5));
    let genres = store.list_genres(Page::new(0, 1).unwrap()).await.unwrap();
    assert_eq!((genres.items.len(), genres.total), (1, 1));
}

/// The edges of [`Page`] are within every store's integer range: `MongoDB` counts `skip`
/// and `limit` in a signed 64-bit integer.
async fn the_largest_offset_and_limit_are_served(store: Arc<dyn MovieStore>) {
    store.add_movie(new_movie("Edge")).await.unwrap();
    let page = Page::new(MAX_OFFSET, MAX_LIMIT).unwrap();
    let far = store.list_movies(page).await.unwrap();
    assert_eq!((far.items.len(), far.total), (0, 1));
    let far = store.list_genres(page).await.unwrap();
    assert_eq!((far.items.len(), far.total), (0, 0));
    let all = store
        .list_movies(Page::new(0, MAX_LIMIT).unwrap())
        .await
        .unwrap();
    assert_eq!(all.items.len(), 1);
}
