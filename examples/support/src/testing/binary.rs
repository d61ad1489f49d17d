//! Where the example binaries are.
//!
//! The services are `[[example]]` targets of the `portcullis` package, so cargo sets no
//! `CARGO_BIN_EXE_<name>` for them (it does only for `[[bin]]` targets). Instead the path
//! follows cargo's documented build layout (the Cargo Book, "Build cache"): within one
//! `target/[<triple>/]<profile>/` directory, integration-test binaries live in `deps/`
//! and examples in `examples/`. So the example beside the running test is
//! `<test binary's directory>/../examples/<name>`, whatever the target directory, the
//! profile or the target triple. A `cargo test` without target filters builds the
//! examples before it runs the tests; a missing binary fails with the command to build it.

use std::path::{Path, PathBuf};

/// The path of the example `name` built for the running test binary; panics with the
/// command to build it when it is not there.
pub fn example_binary(name: &str) -> PathBuf {
    let test_binary = std::env::current_exe().expect("the test binary knows its own path");
    let path = example_path(&test_binary, name).unwrap_or_else(|| {
        panic!(
            "the test binary {} is not in cargo's `target/<profile>/deps/`, so the example \
             `{name}` cannot be located beside it",
            test_binary.display()
        )
    });
    assert!(
        path.is_file(),
        "example binary `{name}` is missing at {}: build it first with \
         `cargo build --examples --all-features` (a plain `cargo test` builds the examples; \
         `cargo test --test <name>` does not)",
        path.display()
    );
    path
}

/// Where cargo puts the example `name` when `test_binary` is an integration test of the
/// same build: `None` unless `test_binary` sits in a `deps/` directory.
pub fn example_path(test_binary: &Path, name: &str) -> Option<PathBuf> {
    let deps = test_binary.parent()?;
    if deps.file_name()? != "deps" {
        return None;
    }
    let profile_dir = deps.parent()?;
    Some(
        profile_dir
            .join("examples")
            .join(format!("{name}{}", std::env::consts::EXE_SUFFIX)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exe(name: &str) -> String {
        format!("{name}{}", std::env::consts::EXE_SUFFIX)
    }

    #[test]
    fn the_example_sits_in_the_examples_folder_beside_deps() {
        let found = example_path(
            Path::new("/w/target/debug/deps/e2e_access-0123abcd"),
            "user_service",
        );
        assert_eq!(
            found,
            Some(PathBuf::from("/w/target/debug/examples").join(exe("user_service")))
        );
    }

    #[test]
    fn a_target_triple_and_a_custom_profile_are_followed() {
        let found = example_path(
            Path::new("/ci/out/x86_64-unknown-linux-gnu/bench-opt/deps/gateway-ff"),
            "movie_service",
        );
        assert_eq!(
            found,
            Some(
                PathBuf::from("/ci/out/x86_64-unknown-linux-gnu/bench-opt/examples")
                    .join(exe("movie_service"))
            )
        );
    }

    #[test]
    fn a_binary_outside_deps_is_not_guessed_from() {
        assert_eq!(
            example_path(Path::new("/usr/local/bin/e2e"), "movie_service"),
            None
        );
        assert_eq!(example_path(Path::new("e2e"), "movie_service"), None);
    }

    #[test]
    fn this_test_binary_is_where_cargo_puts_test_binaries() {
        let exe = std::env::current_exe().unwrap();
        assert!(
            example_path(&exe, "movie_service").is_some(),
            "{} is not in a deps/ folder: cargo's layout changed",
            exe.display()
        );
    }
}
