//! Settings out of range are a `ConfigError` from `build`, never a panic.

use std::time::Duration;

use portcullis_circuit_breaker::{
    CircuitBreaker, CircuitBreakerBuilder, ConfigError, FailurePolicy,
};

fn error(builder: CircuitBreakerBuilder) -> ConfigError {
    builder.build().unwrap_err()
}

#[test]
fn the_defaults_build() {
    assert!(CircuitBreaker::builder().build().is_ok());
    let _ = CircuitBreaker::default();
}

#[test]
fn a_max_reset_timeout_below_the_reset_timeout_is_refused() {
    let refused = error(
        CircuitBreaker::builder()
            .reset_timeout(Duration::from_secs(60))
            .max_reset_timeout(Duration::from_secs(30)),
    );
    assert_eq!(
        refused,
        ConfigError::MaxResetTimeout {
            max_reset_timeout: Duration::from_secs(30),
            reset_timeout: Duration::from_secs(60),
        }
    );
    assert!(refused.to_string().contains("max_reset_timeout"));
}

#[test]
fn a_reset_timeout_above_the_default_ceiling_needs_no_explicit_ceiling() {
    let breaker = CircuitBreaker::builder()
        .reset_timeout(Duration::from_secs(7200))
        .build()
        .unwrap();
    assert_eq!(breaker.snapshot().reset_timeout, Duration::from_secs(7200));
}

#[test]
fn a_backoff_factor_below_one_or_not_finite_is_refused() {
    for factor in [0.5, -1.0, f64::NAN, f64::INFINITY] {
        let refused = error(CircuitBreaker::builder().exponential_backoff(factor));
        assert!(
            matches!(refused, ConfigError::ExponentialBackoff { .. }),
            "{factor}"
        );
    }
    assert!(
        CircuitBreaker::builder()
            .exponential_backoff(1.0)
            .build()
            .is_ok()
    );
}

#[test]
fn a_negative_or_non_finite_jitter_is_refused() {
    for factor in [-0.1, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            error(CircuitBreaker::builder().random_factor(factor)),
            ConfigError::RandomFactor { .. }
        ));
    }
}

#[test]
fn zero_failures_zero_window_and_bad_rates_are_refused() {
    assert_eq!(
        error(CircuitBreaker::builder().max_failures(0)),
        ConfigError::MaxFailures
    );
    assert_eq!(
        error(CircuitBreaker::builder().failure_policy(FailurePolicy::failure_rate(0.5, 0))),
        ConfigError::FailureRateWindow
    );
    for threshold in [0.0, 1.5, f64::NAN] {
        assert!(matches!(
            error(
                CircuitBreaker::builder()
                    .failure_policy(FailurePolicy::failure_rate(threshold, 10))
            ),
            ConfigError::FailureRateThreshold { .. }
        ));
    }
    assert_eq!(
        error(
            CircuitBreaker::builder()
                .failure_policy(FailurePolicy::failure_rate(0.5, 10).minimum_calls(11))
        ),
        ConfigError::MinimumCalls {
            minimum_calls: 11,
            window: 10
        }
    );
}

#[test]
fn zero_half_open_permits_or_more_successes_than_permits_are_refused() {
    assert_eq!(
        error(CircuitBreaker::builder().half_open_permits(0)),
        ConfigError::HalfOpenPermits
    );
    assert_eq!(
        error(CircuitBreaker::builder().half_open_successes(2)),
        ConfigError::HalfOpenSuccesses {
            successes: 2,
            permits: 1
        }
    );
}

#[test]
fn a_zero_call_timeout_is_refused() {
    assert_eq!(
        error(CircuitBreaker::builder().call_timeout(Duration::ZERO)),
        ConfigError::CallTimeout
    );
}
