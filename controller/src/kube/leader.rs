//! Leader election through a `coordination.k8s.io/v1` Lease: only the leader writes Ingress
//! status and Events, so several Pingress pods never fight over them.
//!
//! Every `renew` interval each candidate reads the Lease. The holder renews it; anyone else
//! takes it over once it expired (`renewTime + leaseDurationSeconds` in the past). Every write
//! is a `replace` carrying the `resourceVersion` that was read, so two candidates cannot both
//! win: the API server answers the loser `409 Conflict`, which means "not the leader".

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::PostParams;
use kube::{Api, Client};

/// How a leader election is run.
#[derive(Debug, Clone)]
pub struct LeaderConfig {
    /// The namespace of the Lease (and of the presence Leases).
    pub namespace: String,
    /// The Lease's name.
    pub lease_name: String,
    /// This candidate's name (the pod name).
    pub identity: String,
    /// A leader that has not renewed for this long loses the Lease.
    pub lease_duration: Duration,
    /// How often every candidate reads (and the holder renews) the Lease.
    pub renew: Duration,
}

/// Whether this process currently leads; cheap to read from anywhere. `gained` is notified
/// when it becomes the leader, so that the new leader writes status without waiting for a
/// change.
#[derive(Clone, Default)]
pub struct Leadership {
    leader: Arc<AtomicBool>,
    /// Notified each time this process becomes the leader.
    pub gained: Arc<tokio::sync::Notify>,
}

impl Leadership {
    /// Whether this process holds the leader Lease now.
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::SeqCst)
    }

    fn set(&self, leader: bool, identity: &str, gauge: &prometheus::IntGauge) {
        if self.leader.swap(leader, Ordering::SeqCst) != leader {
            if leader {
                self.gained.notify_one();
                tracing::info!(%identity, "became the leader: writing Ingress status and Events");
            } else {
                tracing::info!(%identity, "not the leader any more");
            }
        }
        gauge.set(i64::from(leader));
    }
}

/// Runs the election until the process ends, updating `leadership`.
pub async fn run_election(
    client: Client,
    config: LeaderConfig,
    leadership: Leadership,
    gauge: prometheus::IntGauge,
) {
    let api: Api<Lease> = Api::namespaced(client, &config.namespace);
    loop {
        let leader = match try_lead(&api, &config).await {
            Ok(leader) => leader,
            Err(e) => {
                tracing::warn!(lease = %config.lease_name, "leader election: {e}");
                false
            }
        };
        leadership.set(leader, &config.identity, &gauge);
        tokio::time::sleep(config.renew).await;
    }
}

/// One round: returns whether this candidate holds the Lease afterwards.
async fn try_lead(api: &Api<Lease>, config: &LeaderConfig) -> Result<bool, kube::Error> {
    let now = Timestamp::now();
    let duration = i32::try_from(config.lease_duration.as_secs()).unwrap_or(i32::MAX);
    let Some(mut lease) = api.get_opt(&config.lease_name).await? else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(config.lease_name.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(config.identity.clone()),
                lease_duration_seconds: Some(duration),
                acquire_time: Some(MicroTime(now)),
                renew_time: Some(MicroTime(now)),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        return won(api.create(&PostParams::default(), &lease).await);
    };
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    let mine = spec.holder_identity.as_deref() == Some(config.identity.as_str());
    if !mine {
        let renewed = spec.renew_time.as_ref().map(|t| t.0);
        let held_for = spec.lease_duration_seconds.unwrap_or(duration);
        let expired = renewed.is_none_or(|t| {
            t.checked_add(jiff_seconds(held_for))
                .is_ok_and(|deadline| deadline < now)
        });
        if !expired {
            return Ok(false);
        }
        spec.holder_identity = Some(config.identity.clone());
        spec.acquire_time = Some(MicroTime(now));
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
    }
    spec.renew_time = Some(MicroTime(now));
    spec.lease_duration_seconds = Some(duration);
    // `lease` still carries the resourceVersion we read: a concurrent writer makes this 409.
    won(api
        .replace(&config.lease_name, &PostParams::default(), &lease)
        .await)
}

/// `seconds` as a jiff duration, to add to a Lease's renew time.
pub(super) fn jiff_seconds(seconds: i32) -> k8s_openapi::jiff::SignedDuration {
    k8s_openapi::jiff::SignedDuration::from_secs(i64::from(seconds))
}

/// `Ok(true)` when the write went through, `Ok(false)` on a conflict (someone else won).
pub(super) fn won<T>(result: Result<T, kube::Error>) -> Result<bool, kube::Error> {
    match result {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}
