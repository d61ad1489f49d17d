//! The client's settings: command-line flags first, then `PORTCULLIS_*` environment
//! variables, then defaults.

use std::path::PathBuf;
use std::time::Duration;

use crate::tls::ExtraRoots;

/// The usage text printed by `--help` and after a usage error.
pub const USAGE: &str = "\
recommendation_client: log in at the IAM, fetch the movie list through the circuit breaker,
print a recommendation; serve the last good list while the movie service is down.

USAGE:
    cargo run --example recommendation_client -- [OPTIONS]

OPTIONS (each also read from the environment variable shown):
    --iam URL               IAM base URL               PORTCULLIS_IAM_URL     [default: http://127.0.0.1:8808]
    --movies URL            movie service base URL; repeat for several instances
                                                       PORTCULLIS_MOVIES_URL  (comma-separated) [default: http://127.0.0.1:8809]
    --user NAME             user to log in as          PORTCULLIS_USER        [default: admin]
    --password PASSWORD     password (prefer the environment variable: flags show in `ps`)
                                                       PORTCULLIS_PASSWORD    [default: admin]
    --client-id ID          authenticate as this registered OAuth 2.0 client (client_credentials)
                            instead of as --user; its secret from PORTCULLIS_CLIENT_SECRET
                                                       PORTCULLIS_CLIENT_ID
    --rounds N              rounds to run, 0 = forever PORTCULLIS_ROUNDS      [default: 10]
    --interval-ms MS        pause between rounds       PORTCULLIS_INTERVAL_MS [default: 1000]
    --max-failures N        failures that open a breaker          PORTCULLIS_MAX_FAILURES     [default: 3]
    --call-timeout-ms MS    time allowed per call                 PORTCULLIS_CALL_TIMEOUT_MS  [default: 1000]
    --reset-timeout-ms MS   open time before a half-open probe    PORTCULLIS_RESET_TIMEOUT_MS [default: 3000]
    --login-timeout-ms MS   time allowed for a login at the IAM   PORTCULLIS_LOGIN_TIMEOUT_MS [default: 10000]
                            (password hashing is deliberately slow, more so in debug builds)
    --tls-root-certificates PATHS   PEM files of extra roots trusted for https:// (comma-separated)
                                                       PORTCULLIS_TLS_ROOT_CERTIFICATES
    --allow-insecure-http BOOL      allow plain http:// off loopback (with a warning)
                                                       PORTCULLIS_ALLOW_INSECURE_HTTP [default: false]
    --registry URLS         etcd endpoints (comma-separated): find the IAM and the movie
                            service instances in the service registry instead of --iam/--movies
                                                       PORTCULLIS_REGISTRY_ADDRS
    --registry-prefix KEY   the registry's key prefix  PORTCULLIS_REGISTRY_PREFIX [default: /portcullis/services]
    --movie-service NAME    the movie service's name in the registry
                                                       PORTCULLIS_MOVIE_SERVICE_NAME [default: movie_service]
    --iam-service NAME      the IAM's name in the registry
                                                       PORTCULLIS_IAM_SERVICE_NAME [default: user_service]
    --breaker-view ADDR     serve a live page of the breakers at http://ADDR/breakers while the
                            client runs (it shows the movie service addresses: bind loopback)
                                                       PORTCULLIS_BREAKER_VIEW [default: off]
    -h, --help              print this text

Base URLs may carry a path prefix (a gateway route such as
http://127.0.0.1:7777/seedotech.moviemanagement); the API paths are appended to it.

EXIT CODES:
    0  every round printed a recommendation (live or fallback)
    1  some round had neither a live list nor a fallback to recommend from
    2  usage error (bad flag or value)
    3  the IAM rejected the credentials
";

/// Everything the client needs to run. `Debug` leaves the password out.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    /// IAM base URL, without a trailing slash.
    pub iam_url: String,
    /// Movie service base URLs (one breaker each), without trailing slashes.
    pub movie_urls: Vec<String>,
    /// The user to log in as.
    pub user: String,
    /// The user's password (never printed).
    pub password: String,
    /// A registered OAuth 2.0 client to authenticate as instead of the user.
    pub client_id: Option<String>,
    /// That client's secret, from `PORTCULLIS_CLIENT_SECRET` only (never printed).
    pub client_secret: Option<String>,
    /// Rounds to run; `None` runs until interrupted.
    pub rounds: Option<u64>,
    /// Pause between rounds.
    pub interval: Duration,
    /// Consecutive failures that open a breaker.
    pub max_failures: u32,
    /// Time allowed for one call.
    pub call_timeout: Duration,
    /// Time an open breaker waits before it lets a probe through.
    pub reset_timeout: Duration,
    /// Time allowed for one login at the IAM.
    pub login_timeout: Duration,
    /// Extra roots trusted for `https://` (read from `--tls-root-certificates`).
    pub tls_roots: ExtraRoots,
    /// Allows plain `http://` off loopback (with a warning).
    pub allow_insecure_http: bool,
    /// etcd endpoints of the service registry; empty: `iam_url` and `movie_urls` are used.
    pub registry_addrs: Vec<String>,
    /// The registry's key prefix.
    pub registry_prefix: String,
    /// The movie service's name in the registry.
    pub movie_service: String,
    /// The IAM's name in the registry.
    pub iam_service: String,
    /// Where to serve the live breaker page (`--breaker-view`); `None`: not served.
    pub breaker_view: Option<std::net::SocketAddr>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("iam_url", &self.iam_url)
            .field("movie_urls", &self.movie_urls)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("rounds", &self.rounds)
            .field("interval", &self.interval)
            .field("max_failures", &self.max_failures)
            .field("call_timeout", &self.call_timeout)
            .field("reset_timeout", &self.reset_timeout)
            .field("login_timeout", &self.login_timeout)
            .field("tls_roots", &self.tls_roots.len())
            .field("allow_insecure_http", &self.allow_insecure_http)
            .field("registry_addrs", &self.registry_addrs)
            .field("registry_prefix", &self.registry_prefix)
            .field("movie_service", &self.movie_service)
            .field("iam_service", &self.iam_service)
            .field("breaker_view", &self.breaker_view)
            .finish()
    }
}

/// The flags that take a value.
const FLAGS: [&str; 18] = [
    "iam",
    "movies",
    "user",
    "password",
    "rounds",
    "interval-ms",
    "max-failures",
    "call-timeout-ms",
    "reset-timeout-ms",
    "login-timeout-ms",
    "tls-root-certificates",
    "allow-insecure-http",
    "registry",
    "registry-prefix",
    "movie-service",
    "iam-service",
    "client-id",
    "breaker-view",
];

/// What the command line asked for.
#[derive(Debug, PartialEq, Eq)]
// Built once at start-up and moved out at once: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Parsed {
    /// Run with this configuration.
    Run(Config),
    /// Print the usage and exit successfully.
    Help,
}

/// Builds the configuration from `args` (without the program name) and `env` (a lookup
/// such as `|key| std::env::var(key).ok()`). Returns a message for a usage error.
pub fn parse(
    args: impl IntoIterator<Item = String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Parsed, String> {
    let mut flags: Vec<(String, String)> = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(Parsed::Help);
        }
        let Some(flag) = arg.strip_prefix("--") else {
            return Err(format!("unexpected argument {arg:?}"));
        };
        let (name, value) = if let Some((name, value)) = flag.split_once('=') {
            (name.to_owned(), value.to_owned())
        } else {
            let value = args
                .next()
                .ok_or_else(|| format!("--{flag} needs a value"))?;
            (flag.to_owned(), value)
        };
        if !FLAGS.contains(&name.as_str()) {
            return Err(format!("unknown flag --{name}"));
        }
        flags.push((name, value));
    }

    // The last occurrence of a flag wins, except --movies, which accumulates.
    let flag = |name: &str| {
        flags
            .iter()
            .rev()
            .find(|(flag, _)| flag == name)
            .map(|(_, value)| value.clone())
    };
    let setting = |name: &str, var: &str| flag(name).or_else(|| env(var));

    let iam_url = base_url(
        &setting("iam", "PORTCULLIS_IAM_URL").unwrap_or_else(|| "http://127.0.0.1:8808".into()),
    )?;
    let mut movie_urls: Vec<String> = flags
        .iter()
        .filter(|(flag, _)| flag == "movies")
        .map(|(_, value)| value.clone())
        .collect();
    if movie_urls.is_empty() {
        movie_urls = env("PORTCULLIS_MOVIES_URL")
            .unwrap_or_else(|| "http://127.0.0.1:8809".into())
            .split(',')
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .map(str::to_owned)
            .collect();
    }
    let movie_urls = movie_urls
        .iter()
        .map(|url| base_url(url))
        .collect::<Result<Vec<_>, _>>()?;
    if movie_urls.is_empty() {
        return Err("at least one movie service URL is needed".into());
    }

    let number = |name: &str, var: &str, default: u64| -> Result<u64, String> {
        setting(name, var).map_or(Ok(default), |value| {
            value
                .trim()
                .parse()
                .map_err(|_| format!("--{name} ({var}) must be a whole number, not {value:?}"))
        })
    };
    let rounds = number("rounds", "PORTCULLIS_ROUNDS", 10)?;
    let max_failures = number("max-failures", "PORTCULLIS_MAX_FAILURES", 3)?;
    let max_failures = u32::try_from(max_failures)
        .ok()
        .filter(|n| *n > 0)
        .ok_or("--max-failures must be between 1 and 4294967295")?;
    let call_timeout = number("call-timeout-ms", "PORTCULLIS_CALL_TIMEOUT_MS", 1000)?;
    if call_timeout == 0 {
        return Err("--call-timeout-ms must be above 0".into());
    }

    let root_files: Vec<PathBuf> =
        setting("tls-root-certificates", "PORTCULLIS_TLS_ROOT_CERTIFICATES")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|path| !path.is_empty())
            .map(PathBuf::from)
            .collect();
    let tls_roots = ExtraRoots::load(&root_files).map_err(|error| error.to_string())?;
    let allow_insecure_http = match setting("allow-insecure-http", "PORTCULLIS_ALLOW_INSECURE_HTTP")
        .as_deref()
        .map(str::trim)
    {
        None | Some("" | "false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(format!(
                "--allow-insecure-http (PORTCULLIS_ALLOW_INSECURE_HTTP) must be true or false, not {other:?}"
            ));
        }
    };

    let registry_addrs: Vec<String> = setting("registry", "PORTCULLIS_REGISTRY_ADDRS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|addr| !addr.is_empty())
        .map(str::to_owned)
        .collect();
    let name = |flag: &str, var: &str, default: &str| {
        setting(flag, var)
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| default.to_owned())
    };

    let client_id = setting("client-id", "PORTCULLIS_CLIENT_ID")
        .map(|id| id.trim().to_owned())
        .filter(|id| !id.is_empty());
    let client_secret = env("PORTCULLIS_CLIENT_SECRET").filter(|secret| !secret.is_empty());
    if client_id.is_some() && client_secret.is_none() {
        return Err("--client-id (PORTCULLIS_CLIENT_ID) needs PORTCULLIS_CLIENT_SECRET".into());
    }

    let breaker_view = match setting("breaker-view", "PORTCULLIS_BREAKER_VIEW")
        .as_deref()
        .map(str::trim)
    {
        None | Some("") => None,
        Some(addr) => Some(addr.parse().map_err(|_| {
            format!(
                "--breaker-view (PORTCULLIS_BREAKER_VIEW) must be an address such as 127.0.0.1:8810, not {addr:?}"
            )
        })?),
    };

    Ok(Parsed::Run(Config {
        iam_url,
        movie_urls,
        user: setting("user", "PORTCULLIS_USER").unwrap_or_else(|| "admin".into()),
        password: setting("password", "PORTCULLIS_PASSWORD").unwrap_or_else(|| "admin".into()),
        client_id,
        client_secret,
        rounds: (rounds > 0).then_some(rounds),
        interval: Duration::from_millis(number("interval-ms", "PORTCULLIS_INTERVAL_MS", 1000)?),
        max_failures,
        call_timeout: Duration::from_millis(call_timeout),
        reset_timeout: Duration::from_millis(number(
            "reset-timeout-ms",
            "PORTCULLIS_RESET_TIMEOUT_MS",
            3000,
        )?),
        login_timeout: Duration::from_millis(number(
            "login-timeout-ms",
            "PORTCULLIS_LOGIN_TIMEOUT_MS",
            10_000,
        )?),
        tls_roots,
        allow_insecure_http,
        registry_addrs,
        registry_prefix: name(
            "registry-prefix",
            "PORTCULLIS_REGISTRY_PREFIX",
            portcullis_discovery::etcd::DEFAULT_PREFIX,
        ),
        movie_service: name(
            "movie-service",
            "PORTCULLIS_MOVIE_SERVICE_NAME",
            "movie_service",
        ),
        iam_service: name("iam-service", "PORTCULLIS_IAM_SERVICE_NAME", "user_service"),
        breaker_view,
    }))
}

/// Checks that `url` is an absolute http(s) URL and drops a trailing slash, so that API
/// paths can be appended (keeping a gateway's path prefix).
fn base_url(url: &str) -> Result<String, String> {
    let parsed = url::Url::parse(url).map_err(|error| format!("bad URL {url:?}: {error}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(format!(
            "bad URL {url:?}: an http:// or https:// URL is needed"
        ));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn run(list: &[&str], env: &[(&str, &str)]) -> Result<Parsed, String> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        parse(args(list), move |key| {
            env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
        })
    }

    fn config(list: &[&str], env: &[(&str, &str)]) -> Config {
        match run(list, env) {
            Ok(Parsed::Run(config)) => config,
            other => panic!("expected a config, got {other:?}"),
        }
    }

    #[test]
    fn defaults_point_at_the_documented_ports() {
        let config = config(&[], &[]);
        assert_eq!(config.iam_url, "http://127.0.0.1:8808");
        assert_eq!(config.movie_urls, ["http://127.0.0.1:8809"]);
        assert_eq!(config.rounds, Some(10));
        assert_eq!(config.max_failures, 3);
    }

    #[test]
    fn flags_override_the_environment_and_movies_accumulate() {
        let config = config(
            &[
                "--movies",
                "http://a:1/",
                "--movies=http://b:2/prefix",
                "--rounds",
                "0",
                "--user",
                "bob",
            ],
            &[
                ("PORTCULLIS_MOVIES_URL", "http://env:3"),
                ("PORTCULLIS_USER", "eve"),
                ("PORTCULLIS_PASSWORD", "pw"),
            ],
        );
        assert_eq!(config.movie_urls, ["http://a:1", "http://b:2/prefix"]);
        assert_eq!(config.rounds, None);
        assert_eq!(config.user, "bob");
        assert_eq!(config.password, "pw");
    }

    #[test]
    fn the_environment_lists_several_movie_urls() {
        let config = config(&[], &[("PORTCULLIS_MOVIES_URL", "http://a:1, http://b:2")]);
        assert_eq!(config.movie_urls, ["http://a:1", "http://b:2"]);
    }

    #[test]
    fn a_registry_replaces_the_fixed_urls_and_names_the_services() {
        let followed = config(
            &["--registry", "http://127.0.0.1:2379, http://127.0.0.1:2380"],
            &[("PORTCULLIS_MOVIE_SERVICE_NAME", "movies")],
        );
        assert_eq!(
            followed.registry_addrs,
            ["http://127.0.0.1:2379", "http://127.0.0.1:2380"]
        );
        assert_eq!(followed.registry_prefix, "/portcullis/services");
        assert_eq!(followed.movie_service, "movies");
        assert_eq!(followed.iam_service, "user_service");
        assert!(config(&[], &[]).registry_addrs.is_empty());
    }

    #[test]
    fn a_client_id_takes_its_secret_from_the_environment_only() {
        let client = config(
            &["--client-id", "recommender"],
            &[("PORTCULLIS_CLIENT_SECRET", "s3cret")],
        );
        assert_eq!(client.client_id.as_deref(), Some("recommender"));
        assert_eq!(client.client_secret.as_deref(), Some("s3cret"));
        assert!(!format!("{client:?}").contains("s3cret"));
        assert!(
            run(&["--client-secret", "s3cret"], &[]).is_err(),
            "no such flag"
        );
    }

    #[test]
    fn the_breaker_view_is_off_unless_an_address_is_given() {
        assert_eq!(config(&[], &[]).breaker_view, None);
        let on = config(&["--breaker-view", "127.0.0.1:0"], &[]);
        assert_eq!(on.breaker_view, Some(([127, 0, 0, 1], 0).into()));
        let from_env = config(&[], &[("PORTCULLIS_BREAKER_VIEW", "127.0.0.1:8810")]);
        assert_eq!(from_env.breaker_view, Some(([127, 0, 0, 1], 8810).into()));
        assert!(run(&["--breaker-view", "localhost"], &[]).is_err());
    }

    #[test]
    fn bad_input_is_a_usage_error() {
        assert!(run(&["--rounds", "many"], &[]).is_err());
        assert!(run(&["--movies", "not a url"], &[]).is_err());
        assert!(run(&["--movies", "ftp://host/"], &[]).is_err());
        assert!(run(&["--frobnicate", "1"], &[]).is_err());
        assert!(run(&["--iam"], &[]).is_err());
        assert!(run(&["--max-failures", "0"], &[]).is_err());
        assert!(run(&["--allow-insecure-http", "yes"], &[]).is_err());
        assert!(run(&["--tls-root-certificates", "/nonexistent/ca.pem"], &[]).is_err());
        assert_eq!(run(&["--help"], &[]), Ok(Parsed::Help));
        assert!(
            run(&["--client-id", "recommender"], &[]).is_err(),
            "no secret"
        );
    }
}
