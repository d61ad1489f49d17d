use std::path::PathBuf;

use super::sources::SECRET_KEYS;
use super::*;

fn temp_file(name: &str, contents: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("portcullis-{}-{name}", std::process::id()));
    std::fs::write(&path, contents).unwrap();
    path
}

fn vars(pairs: &[(&str, String)]) -> impl Fn(&str) -> Option<String> + use<> {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    move |name| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

fn shipped_file_holds_no_secret(source: Option<PathBuf>, service: &str) {
    let source = source.unwrap_or_else(|| panic!("{service}: its config file was not found"));
    let raw: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(source).unwrap()).unwrap();
    for key in SECRET_KEYS {
        assert!(
            raw.get(key).is_none(),
            "{service}: the shipped file holds {key}"
        );
    }
}

#[test]
fn the_shipped_config_files_load_and_hold_no_secret() {
    let movie = MovieServiceConfig::load_from(&|_| None).unwrap();
    assert_eq!(
        movie.common.socket_addr().unwrap().to_string(),
        "127.0.0.1:8809"
    );
    assert!(!movie.common.uses_mongodb(), "the default store is memory");
    assert!(movie.common.jwt_secret_password.is_none());
    shipped_file_holds_no_secret(movie.source, "movie_service");

    let user = UserServiceConfig::load_from(&|_| None).unwrap();
    assert_eq!(
        user.common.socket_addr().unwrap().to_string(),
        "127.0.0.1:8808"
    );
    assert!(user.service.admin_password.is_none());
    shipped_file_holds_no_secret(user.source, "user_service");
}

#[test]
fn the_original_projects_config_file_loads() {
    let file = temp_file(
        "original.json",
        r#"{"port": ":8808", "enableGinConsoleLog": true, "enableGinFileLog": false,
            "logFilename": "logs/server.log", "logMaxSize": 1, "logMaxBackups": 3,
            "logMaxAge": 7, "mgAddrs": "127.0.0.1:27017", "mgDbName": "go-microservices",
            "mgDbUsername": "", "mgDbPassword": "", "jwtSecretPassword": "raycad",
            "issuer": "seedotech", "authAddr": "http://127.0.0.1:8808",
            "loginMaxFailures": 7, "adminPassword": "from the file"}"#,
    );
    let path = vars(&[("PORTCULLIS_CONFIG", file.display().to_string())]);
    let movie = MovieServiceConfig::load_from(&path).unwrap();
    let common = &movie.common;
    assert_eq!(common.socket_addr().unwrap().port(), 8808);
    assert_eq!(common.mg_db_name, "go-microservices");
    assert!(common.uses_mongodb());
    assert_eq!(
        common.jwt_secret_password.as_ref().unwrap().expose(),
        "raycad"
    );
    assert!(
        common.mg_db_password.is_none(),
        "an empty password means none"
    );
    assert_eq!(
        (
            common.log_max_size,
            common.log_max_backups,
            common.log_max_age
        ),
        (1, 3, 7)
    );
    assert_eq!(movie.service.login_max_failures, 7);
    assert_eq!(movie.service.auth_addr, "http://127.0.0.1:8808");

    // The same file serves the user service, which reads its own keys from it.
    let user = UserServiceConfig::load_from(&path).unwrap();
    assert_eq!(
        user.service.admin_password.as_ref().unwrap().expose(),
        "from the file"
    );
    std::fs::remove_file(file).unwrap();
}

#[test]
fn secrets_come_from_the_environment_or_a_file_it_names() {
    let secret_file = temp_file("secret", "from-a-file\n");
    let env = vars(&[
        (
            "PORTCULLIS_JWT_SECRET_PASSWORD_FILE",
            secret_file.display().to_string(),
        ),
        ("PORTCULLIS_ADMIN_PASSWORD", "[not, toml]".to_owned()),
        (
            "MONGODB_URI",
            "mongodb://u:p@127.0.0.1:27017/movies".to_owned(),
        ),
    ]);
    let config = UserServiceConfig::load_from(&env).unwrap();
    assert_eq!(
        config.common.jwt_secret_password.as_ref().unwrap().expose(),
        "from-a-file"
    );
    assert_eq!(
        config.service.admin_password.as_ref().unwrap().expose(),
        "[not, toml]"
    );
    assert!(config.common.uses_mongodb());
    std::fs::remove_file(secret_file).unwrap();
}

#[test]
fn an_unreadable_secret_file_or_a_missing_config_file_is_an_error() {
    let missing = std::env::temp_dir().join("portcullis-no-such-file");
    let secret = MovieServiceConfig::load_from(&vars(&[(
        "PORTCULLIS_MG_DB_PASSWORD_FILE",
        missing.display().to_string(),
    )]));
    assert!(matches!(secret, Err(ConfigError::SecretFile { .. })));
    let file = MovieServiceConfig::load_from(&vars(&[(
        "PORTCULLIS_CONFIG",
        missing.display().to_string(),
    )]));
    assert!(matches!(file, Err(ConfigError::MissingFile(_))));
}

#[test]
fn the_logged_configuration_shows_every_field_and_no_secret() {
    let mut user = UserServiceConfig::default();
    user.common.jwt_secret_password = Some(Secret::new("hunter2"));
    user.common.mg_db_password = Some(Secret::new("hunter3"));
    user.common.mongodb_uri = Some(Secret::new("mongodb://u:hunter4@db/x"));
    user.service.admin_password = Some(Secret::new("hunter5"));
    let logged = format!("{user:?}");
    for secret in ["hunter2", "hunter3", "hunter4", "hunter5"] {
        assert!(!logged.contains(secret), "{secret} in {logged}");
    }
    assert_eq!(
        logged.matches("Some(\"<redacted>\")").count(),
        4,
        "{logged}"
    );
    let movie = format!("{:?}", MovieServiceConfig::default());
    // The fields the old hand-written Debug left out.
    for field in [
        "log_max_size",
        "log_max_backups",
        "log_max_age",
        "mg_db_username",
        "request_timeout_secs",
        "body_limit_bytes",
        "login_call_timeout_ms",
        "login_max_failures",
        "login_reset_timeout_ms",
        "source",
    ] {
        assert!(movie.contains(field), "{field} missing from {movie}");
    }
    assert!(logged.contains("signing_key_file"), "{logged}");
}
