//! The outbox worker: claims due deliveries with leases (several processes share them), sends
//! each through its channel, and records the outcome. Retryable failures come back with
//! exponential backoff (capped, so a channel that recovers is drained within minutes); a
//! rejected message or one still failing after `max_age` is marked failed and listed by
//! `yuqing deliveries --failed`. At least once: a process killed after sending and before
//! recording sends that message again when the lease runs out, with the same idempotency key.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use yuqing_core::events::{DeliveryOutcome, DeliveryRow, EventStore};
use yuqing_core::notify::{Notifier, NotifyError, OutboundMessage};
use yuqing_core::store::StoreError;

#[derive(Debug, Clone)]
pub struct DeliverSettings {
    pub worker: String,
    /// How long a claimed delivery is ours; longer than any send takes.
    pub lease_secs: i64,
    /// Deliveries sent at once.
    pub concurrency: u32,
    /// First retry delay; doubles per attempt up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// A message still undelivered this long after it was queued is given up (marked failed).
    pub max_age: Duration,
    pub idle: std::time::Duration,
}

impl Default for DeliverSettings {
    fn default() -> Self {
        DeliverSettings {
            worker: "worker".into(),
            lease_secs: 60,
            concurrency: 16,
            backoff: Duration::seconds(5),
            max_backoff: Duration::minutes(2),
            max_age: Duration::hours(24),
            idle: std::time::Duration::from_millis(200),
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliverReport {
    pub claimed: u32,
    pub sent: u32,
    pub retried: u32,
    pub failed: u32,
}

pub struct Deliverer<S, N> {
    store: Arc<S>,
    notifier: Arc<N>,
    settings: DeliverSettings,
}

impl<S, N> std::fmt::Debug for Deliverer<S, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deliverer").field("settings", &self.settings).finish_non_exhaustive()
    }
}

/// The outcome of one send, as the outbox records it.
pub fn outcome(
    result: Result<Option<String>, NotifyError>,
    d: &DeliveryRow,
    s: &DeliverSettings,
    now: DateTime<Utc>,
) -> DeliveryOutcome {
    match result {
        Ok(remote_id) => DeliveryOutcome::Sent { remote_id },
        Err(NotifyError::Rejected(e)) => DeliveryOutcome::Failed { error: e },
        Err(NotifyError::Retryable { reason, retry_after }) => {
            if now - d.created_at >= s.max_age {
                return DeliveryOutcome::Failed {
                    error: format!("gave up after {} attempts: {reason}", d.attempts),
                };
            }
            // The channel (or the local limiter) said when: then, at least a second on. Else
            // exponential backoff.
            let at = match retry_after.and_then(|r| Duration::from_std(r).ok()) {
                Some(asked) => now + asked.max(Duration::seconds(1)),
                None => {
                    let exp = (d.attempts - 1).clamp(0, 20) as u32;
                    now + (s.backoff * 2i32.saturating_pow(exp)).min(s.max_backoff)
                }
            };
            DeliveryOutcome::Retry { error: reason, at }
        }
    }
}

impl<S, N> Deliverer<S, N>
where
    S: EventStore + 'static,
    N: Notifier + 'static,
{
    pub fn new(store: Arc<S>, notifier: Arc<N>, settings: DeliverSettings) -> Self {
        Deliverer { store, notifier, settings }
    }

    /// Claims what is due and sends it; returns when every claimed delivery is recorded.
    pub async fn step(&self, now: DateTime<Utc>) -> Result<DeliverReport, StoreError> {
        let claimed = self
            .store
            .claim_deliveries(&self.settings.worker, now, self.settings.lease_secs, self.settings.concurrency)
            .await?;
        let mut report = DeliverReport { claimed: claimed.len() as u32, ..DeliverReport::default() };
        let mut tasks = JoinSet::new();
        for d in claimed {
            let (store, notifier, settings) =
                (self.store.clone(), self.notifier.clone(), self.settings.clone());
            let started = std::time::Instant::now();
            tasks.spawn(async move {
                let result = send_one(store.as_ref(), notifier.as_ref(), &d).await;
                // The step's clock plus the time the send took (tests drive `now`).
                let done = now + Duration::from_std(started.elapsed()).unwrap_or_default();
                let out = outcome(result, &d, &settings, done);
                match &out {
                    DeliveryOutcome::Sent { .. } => {
                        let latency = (done - d.not_before.max(d.created_at)).num_milliseconds().max(0);
                        metrics::histogram!("yuqing_delivery_latency_seconds").record(latency as f64 / 1000.0);
                        metrics::counter!("yuqing_deliveries_total", "outcome" => "sent").increment(1);
                    }
                    DeliveryOutcome::Retry { error, .. } => {
                        tracing::info!(delivery = d.id, channel = %d.channel, attempt = d.attempts, %error, "delivery will be retried");
                        metrics::counter!("yuqing_deliveries_total", "outcome" => "retry").increment(1);
                    }
                    DeliveryOutcome::Failed { error } => {
                        tracing::warn!(delivery = d.id, channel = %d.channel, %error, "delivery failed");
                        metrics::counter!("yuqing_deliveries_total", "outcome" => "failed").increment(1);
                    }
                }
                let recorded = store.finish_delivery(&settings.worker, d.id, &out, done).await;
                (out, recorded)
            });
        }
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok((out, recorded)) => {
                    if let Err(e) = recorded {
                        tracing::warn!(error = %e, "delivery outcome not recorded; it will be sent again");
                    }
                    match out {
                        DeliveryOutcome::Sent { .. } => report.sent += 1,
                        DeliveryOutcome::Retry { .. } => report.retried += 1,
                        DeliveryOutcome::Failed { .. } => report.failed += 1,
                    }
                }
                Err(e) => tracing::error!(error = %e, "delivery task panicked"),
            }
        }
        Ok(report)
    }

    pub async fn run(&self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            let pause = match self.step(Utc::now()).await {
                Ok(r) if r.claimed >= self.settings.concurrency => std::time::Duration::ZERO,
                Ok(_) => self.settings.idle,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox pass failed; retrying");
                    self.settings.idle * 10
                }
            };
            if !pause.is_zero() {
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
}

async fn send_one<S: EventStore, N: Notifier>(
    store: &S,
    notifier: &N,
    d: &DeliveryRow,
) -> Result<Option<String>, NotifyError> {
    let mut msg: OutboundMessage = serde_json::from_str(&d.message)
        .map_err(|e| NotifyError::Rejected(format!("unreadable outbox message: {e}")))?;
    msg.idempotency_key = d.idempotency_key.clone();
    if msg.to.is_none()
        && let Some(official) = &d.official
    {
        // A contact without an address is the official's linked chat (Telegram).
        match store.chat_of_official(official).await {
            Ok(Some(chat)) => msg.to = Some(chat),
            Ok(None) => {}
            Err(e) => return Err(NotifyError::Retryable { reason: e.to_string(), retry_after: None }),
        }
    }
    notifier.send(&msg).await.map(|r| r.remote_id)
}
