//! Prometheus metrics of the service.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

/// The service's own registry (no global state).
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    pub events: IntCounterVec,
    pub requests: IntCounterVec,
    pub latency: HistogramVec,
    /// Delivery attempts settled, by the delivery's status after them.
    pub deliveries: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let events = IntCounterVec::new(
            Opts::new(
                "engagement_events_total",
                "Events received, by outcome status",
            ),
            &["status"],
        )?;
        let requests = IntCounterVec::new(
            Opts::new(
                "engagement_http_requests_total",
                "HTTP requests, by route and status",
            ),
            &["route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "engagement_http_request_duration_seconds",
                "HTTP request latency",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ]),
            &["route"],
        )?;
        let deliveries = IntCounterVec::new(
            Opts::new(
                "engagement_delivery_attempts_total",
                "Notification delivery attempts, by the delivery's status after them",
            ),
            &["status"],
        )?;
        registry.register(Box::new(deliveries.clone()))?;
        registry.register(Box::new(events.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        Ok(Metrics {
            registry,
            events,
            requests,
            latency,
            deliveries,
        })
    }

    /// The text exposition format.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
        String::from_utf8(buf).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}
