//! Follows one service's keys: a full list, then a watch from the next revision, resumed
//! where it stopped after a lost connection and listed again after a compaction.

use std::sync::Arc;
use std::time::Duration;

use crate::view::ViewWriter;
use crate::{Instance, RegistryError};

use super::gateway::{Gateway, KeyValue, WatchMessage, error_chain};

/// How a watch ended.
enum End {
    /// The revision to resume from was compacted away: list again.
    Compacted,
    /// The connection was lost or refused: resume from the last revision.
    Lost(RegistryError),
}

/// How often to try again and to check that a quiet watch's registry still answers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    pub(crate) retry: Duration,
    pub(crate) probe: Duration,
}

/// Keeps `writer` equal to the keys under `prefix`, for as long as the task runs.
pub(crate) async fn follow(
    gateway: Arc<Gateway>,
    prefix: Vec<u8>,
    writer: ViewWriter,
    timing: Timing,
) {
    let retry = timing.retry;
    // The revision up to which every change has been applied; `None` before a listing.
    let mut applied: Option<i64> = None;
    loop {
        let Some(revision) = applied else {
            match gateway.range_prefix(&prefix).await {
                Ok(range) => {
                    let instances = range.kvs.iter().filter_map(|kv| decode(&prefix, kv));
                    writer.replace_all(instances);
                    applied = Some(range.header.revision);
                    writer.healthy();
                }
                Err(error) => {
                    writer.stale(&error);
                    tokio::time::sleep(retry).await;
                }
            }
            continue;
        };
        match watch_from(
            &gateway,
            &prefix,
            revision,
            &writer,
            &mut applied,
            timing.probe,
        )
        .await
        {
            End::Compacted => {
                tracing::info!(
                    revision,
                    "watch revision compacted; listing the service again"
                );
                applied = None;
            }
            End::Lost(error) => {
                writer.stale(&error);
                tokio::time::sleep(retry).await;
            }
        }
    }
}

/// Applies the watch's events after `revision` until it ends.
async fn watch_from(
    gateway: &Gateway,
    prefix: &[u8],
    revision: i64,
    writer: &ViewWriter,
    applied: &mut Option<i64>,
    probe_every: Duration,
) -> End {
    let mut response = match gateway.watch(prefix, revision + 1).await {
        Ok(response) => response,
        Err(error) => return End::Lost(error),
    };
    let mut buffer: Vec<u8> = Vec::new();
    // A watch is quiet when nothing changes, and a connection cut off without a reset
    // stays quiet too: a periodic call tells the two apart.
    let mut probe =
        tokio::time::interval_at(tokio::time::Instant::now() + probe_every, probe_every);
    loop {
        let next = tokio::select! {
            next = response.chunk() => next,
            _ = probe.tick() => {
                if let Err(error) = gateway.ping(prefix).await {
                    return End::Lost(error);
                }
                continue;
            }
        };
        let chunk = match next {
            Ok(Some(chunk)) => chunk,
            Ok(None) => {
                return End::Lost(RegistryError::Unreachable("the watch stream ended".into()));
            }
            Err(error) => return End::Lost(RegistryError::Unreachable(error_chain(&error))),
        };
        buffer.extend_from_slice(&chunk);
        let mut messages =
            serde_json::Deserializer::from_slice(&buffer).into_iter::<WatchMessage>();
        let mut consumed = 0;
        let mut parsed = Vec::new();
        loop {
            match messages.next() {
                Some(Ok(message)) => {
                    consumed = messages.byte_offset();
                    parsed.push(message);
                }
                Some(Err(error)) if error.is_eof() => break,
                Some(Err(error)) => {
                    return End::Lost(RegistryError::InvalidAnswer(error.to_string()));
                }
                None => {
                    consumed = buffer.len();
                    break;
                }
            }
        }
        buffer.drain(..consumed);
        for message in parsed {
            if let Some(end) = apply(message, prefix, writer, applied) {
                return end;
            }
        }
    }
}

/// Applies one watch message; `Some` when the watch is over.
fn apply(
    message: WatchMessage,
    prefix: &[u8],
    writer: &ViewWriter,
    applied: &mut Option<i64>,
) -> Option<End> {
    if let Some(error) = message.error {
        return Some(End::Lost(RegistryError::InvalidAnswer(error.to_string())));
    }
    let result = message.result?;
    if result.compact_revision > 0 {
        return Some(End::Compacted);
    }
    if result.canceled {
        return Some(End::Lost(RegistryError::InvalidAnswer(
            "the watch was cancelled".into(),
        )));
    }
    if result.created {
        writer.healthy();
    }
    let done = applied.unwrap_or(0);
    let mut newest = done;
    for event in result.events {
        // A resumed watch starts after the last applied revision; never apply one twice.
        if event.kv.mod_revision <= done {
            continue;
        }
        newest = newest.max(event.kv.mod_revision);
        let Some(id) = id_of(prefix, &event.kv.key) else {
            continue;
        };
        if event.is_delete() {
            writer.remove(id);
        } else if let Some(instance) = decode(prefix, &event.kv) {
            writer.upsert(instance);
        } else {
            // An entry that cannot be read is no instance to call.
            writer.remove(id);
        }
    }
    *applied = Some(newest);
    None
}

fn id_of<'k>(prefix: &[u8], key: &'k [u8]) -> Option<&'k str> {
    let id = std::str::from_utf8(key.strip_prefix(prefix)?).ok()?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

/// The instance stored under a key, its id taken from the key.
fn decode(prefix: &[u8], kv: &KeyValue) -> Option<Instance> {
    let id = id_of(prefix, &kv.key)?;
    match serde_json::from_slice::<Instance>(&kv.value) {
        Ok(mut instance) => {
            if instance.id != id {
                id.clone_into(&mut instance.id);
            }
            Some(instance)
        }
        Err(error) => {
            tracing::warn!(key = %String::from_utf8_lossy(&kv.key), %error, "skipping a registry entry that is not an instance");
            None
        }
    }
}
