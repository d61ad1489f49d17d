//! [`GuardLayer`] and [`RequireLayer`]: configuration only.

use std::sync::Arc;

use tower::Layer;

use super::service::{GuardService, Require, Requirement};
use crate::Guard;

/// Applies [`GuardService`]: made by [`Guard::layer`] or [`Guard::optional_layer`].
#[derive(Debug, Clone)]
pub struct GuardLayer {
    guard: Guard,
    optional: bool,
}

impl GuardLayer {
    pub(crate) fn new(guard: Guard, optional: bool) -> Self {
        Self { guard, optional }
    }
}

impl<S> Layer<S> for GuardLayer {
    type Service = GuardService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GuardService::new(inner, self.guard.clone(), self.optional)
    }
}

/// Applies [`Require`]: lets a request through only when its verified token has a role
/// (or scope). Without a verified token: `401`; without the role: `403` with
/// `WWW-Authenticate: Bearer error="insufficient_scope"`.
///
/// Put it inside a [`GuardLayer`] (in axum: `.route_layer(require_role(..))` before
/// `.layer(guard.layer())`).
#[derive(Debug, Clone)]
pub struct RequireLayer {
    requirement: Requirement,
}

/// A [`RequireLayer`] for the role `role` (found in the `role` or `roles` claim).
pub fn require_role(role: impl Into<String>) -> RequireLayer {
    RequireLayer {
        requirement: Requirement::Role(Arc::from(role.into())),
    }
}

/// A [`RequireLayer`] for the scope `scope` (one of the space-separated `scope` claim).
pub fn require_scope(scope: impl Into<String>) -> RequireLayer {
    RequireLayer {
        requirement: Requirement::Scope(Arc::from(scope.into())),
    }
}

impl<S> Layer<S> for RequireLayer {
    type Service = Require<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Require::new(inner, self.requirement.clone())
    }
}
