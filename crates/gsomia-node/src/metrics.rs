//! What a node counts for its operators: `GET /metrics` in the Prometheus text format
//! (prometheus-client). Requests by route and status, decisions by action, outcome and rule,
//! deliveries and their latency per partner, the outbox per partner, checkpoints issued and
//! witnessed, witness failures, and the store's commits. Labels take values from closed sets
//! (route templates, rule ids, party codes this node imported), never from what a request
//! says, so no caller can grow them.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A request's route (the router's template, not the path asked) and status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `/api/v1/items/{id}`, …; `unmatched` for no route.
    pub route: String,
    /// The status answered.
    pub status: u16,
}

/// A route.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The router's template.
    pub route: String,
}

/// A decision as audited.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// `item.publish`, `item.read`, …
    pub action: String,
    /// `allow`, `deny` or `record`.
    pub outcome: String,
    /// The rule that decided; empty if none.
    pub rule: String,
}

/// A partner.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartnerLabels {
    /// Its party code.
    pub partner: String,
}

/// A delivery to a partner and how it went.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    /// Its party code.
    pub partner: String,
    /// `delivered` or `failed`.
    pub outcome: String,
}

fn seconds() -> Histogram {
    // 0.5 ms to about 16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// The node's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Requests answered.
    pub requests: Family<RequestLabels, Counter>,
    /// How long requests took.
    pub request_seconds: Family<RouteLabels, Histogram, fn() -> Histogram>,
    /// Decisions committed to the audit log.
    pub decisions: Family<DecisionLabels, Counter>,
    /// Envelopes posted to partners, by outcome.
    pub deliveries: Family<DeliveryLabels, Counter>,
    /// How long a delivered envelope took, from posting to its checked reply.
    pub delivery_seconds: Family<PartnerLabels, Histogram, fn() -> Histogram>,
    /// Messages waiting in the outbox, per partner (as of the last scrape).
    pub outbox_depth: Family<PartnerLabels, Gauge>,
    /// Age of the oldest message waiting, per partner, in seconds.
    pub outbox_oldest_seconds: Family<PartnerLabels, Gauge<f64, AtomicU64>>,
    /// Checkpoints of this node's log signed.
    pub checkpoints_issued: Counter,
    /// This node's checkpoints cosigned by a partner.
    pub checkpoints_cosigned: Family<PartnerLabels, Counter>,
    /// Partners' checkpoints this node witnessed (cosigned).
    pub checkpoints_witnessed: Family<PartnerLabels, Counter>,
    /// Failed attempts to have a partner witness a checkpoint.
    pub witness_failures: Family<PartnerLabels, Counter>,
}

impl Metrics {
    /// Metrics, all at zero, with the store's commit counters read at each scrape.
    pub fn new(store: std::sync::Arc<dyn gsomia_store::Store>) -> Metrics {
        let mut registry = Registry::with_prefix("gsomia");
        let m = Metrics {
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(seconds),
            decisions: Family::default(),
            deliveries: Family::default(),
            delivery_seconds: Family::new_with_constructor(seconds),
            outbox_depth: Family::default(),
            outbox_oldest_seconds: Family::default(),
            checkpoints_issued: Counter::default(),
            checkpoints_cosigned: Family::default(),
            checkpoints_witnessed: Family::default(),
            witness_failures: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "http_requests",
            "HTTP requests answered, by route and status",
            m.requests.clone(),
        );
        registry.register(
            "http_request_seconds",
            "Time to answer an HTTP request, by route",
            m.request_seconds.clone(),
        );
        registry.register(
            "decisions",
            "Decisions committed to the audit log, by action, outcome and rule",
            m.decisions.clone(),
        );
        registry.register(
            "deliveries",
            "Envelopes posted to partners, by outcome",
            m.deliveries.clone(),
        );
        registry.register(
            "delivery_seconds",
            "Time from posting an envelope to its checked signed reply",
            m.delivery_seconds.clone(),
        );
        registry.register(
            "outbox_depth",
            "Messages queued for a partner",
            m.outbox_depth.clone(),
        );
        registry.register(
            "outbox_oldest_seconds",
            "Age of the oldest message queued for a partner",
            m.outbox_oldest_seconds.clone(),
        );
        registry.register(
            "checkpoints_issued",
            "Checkpoints of this node's audit log signed",
            m.checkpoints_issued.clone(),
        );
        registry.register(
            "checkpoints_cosigned",
            "This node's checkpoints cosigned by a partner",
            m.checkpoints_cosigned.clone(),
        );
        registry.register(
            "checkpoints_witnessed",
            "Partners' checkpoints this node cosigned",
            m.checkpoints_witnessed.clone(),
        );
        registry.register(
            "witness_failures",
            "Failed requests to a partner to witness a checkpoint",
            m.witness_failures.clone(),
        );
        registry.register_collector(Box::new(StoreCommits(store)));
        Metrics { registry, ..m }
    }

    /// The labels of a batch's decisions, to count once it is committed.
    pub fn decisions_of(drafts: &[gsomia_store::AuditDraft]) -> Vec<DecisionLabels> {
        drafts
            .iter()
            .map(|d| DecisionLabels {
                action: d.action.clone(),
                outcome: d.decision.as_str().to_owned(),
                rule: d.rule.map(|r| r.id().to_owned()).unwrap_or_default(),
            })
            .collect()
    }

    /// Counts decisions that were committed.
    pub fn committed(&self, decisions: &[DecisionLabels]) {
        for d in decisions {
            self.decisions.get_or_create(d).inc();
        }
    }

    /// The text exposition.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// The store's writer counters, read at each scrape.
struct StoreCommits(std::sync::Arc<dyn gsomia_store::Store>);

impl std::fmt::Debug for StoreCommits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreCommits")
    }
}

impl prometheus_client::collector::Collector for StoreCommits {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        use prometheus_client::metrics::counter::ConstCounter;
        let s = self.0.commit_stats();
        for (name, help, value) in [
            (
                "store_commits",
                "Transactions committed by the store's writer (each a group of batches)",
                ConstCounter::new(s.commits as f64),
            ),
            (
                "store_batches",
                "Batches committed; batches / commits is the mean group size",
                ConstCounter::new(s.batches as f64),
            ),
            (
                "store_commit_seconds",
                "Time spent committing; seconds / commits is the mean commit latency",
                ConstCounter::new(s.seconds),
            ),
        ] {
            let metric = encoder.encode_descriptor(name, help, None, value.metric_type())?;
            value.encode(metric)?;
        }
        Ok(())
    }
}
