//! The Prometheus text exposition of [`StatsSnapshot`] served at `/metrics`.
//! This module is the one place that knows the metric names.
//!
//! With `routes:` and `pools:`, each request counter and gauge is also
//! given per route (`mock_server_route_…{route="reads"}`) and per pool
//! (`mock_server_pool_…{pool="db"}`), in families of their own so that a
//! sum over a family never counts a request twice.

use std::fmt::Write;

use crate::stats::StatsSnapshot;

/// The `Content-Type` of the exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The request counters: name, help, value.
fn request_counters(s: &StatsSnapshot) -> [(&'static str, &'static str, u64); 6] {
    [
        (
            "requests_received_total",
            "Requests received (reserved endpoints excluded).",
            s.received,
        ),
        (
            "requests_served_total",
            "Requests answered by the handler, fault answers included.",
            s.served,
        ),
        (
            "requests_rejected_total",
            "Requests refused because the queue was full.",
            s.rejected,
        ),
        (
            "requests_dropped_total",
            "Requests whose connection was closed or reset without an answer.",
            s.dropped,
        ),
        (
            "requests_timed_out_total",
            "Requests answered 503 after queue_timeout.",
            s.timed_out,
        ),
        (
            "requests_cancelled_total",
            "Requests whose client went away first.",
            s.cancelled,
        ),
    ]
}

/// The request gauges: name, help, value.
fn request_gauges(s: &StatsSnapshot) -> [(&'static str, &'static str, u64); 4] {
    [
        ("in_service", "Requests in service now.", s.in_service),
        ("queued", "Requests waiting in the queue now.", s.queued),
        (
            "peak_in_service",
            "Most requests in service at once since the last peak reset.",
            s.peak_in_service,
        ),
        (
            "peak_queued",
            "Most requests queued at once since the last peak reset.",
            s.peak_queued,
        ),
    ]
}

/// Renders the counters, one `# HELP`/`# TYPE` block per metric.
pub fn render(s: &StatsSnapshot) -> String {
    let mut out = String::with_capacity(2048);
    for (name, help, value) in request_counters(s) {
        metric(&mut out, name, "counter", help, value as f64);
    }
    for (name, help, value) in request_gauges(s) {
        metric(&mut out, name, "gauge", help, value as f64);
    }
    let counters = [
        (
            "write_timeouts_total",
            "Connections reset because their client read nothing for write_timeout.",
            s.write_timeouts,
        ),
        (
            "connections_accepted_total",
            "Connections accepted (with HTTP/2 several requests share one).",
            s.connections_accepted,
        ),
        (
            "delay_overshoot_samples_total",
            "Delays above zero that ran to their end (measured for overshoot).",
            s.delay_overshoot_samples,
        ),
    ];
    for (name, help, value) in counters {
        metric(&mut out, name, "counter", help, value as f64);
    }
    let overshoot = [
        ("p50", "Median", s.delay_overshoot_p50_us),
        ("p99", "99th percentile", s.delay_overshoot_p99_us),
    ];
    for (name, what, us) in overshoot {
        let help = format!(
            "{what} of how much later than its deadline a delay ended \
             (histogram bucket upper bound; 0 without samples)."
        );
        let name = format!("delay_overshoot_{name}_seconds");
        metric(&mut out, &name, "gauge", &help, us as f64 / 1e6);
    }
    metric(
        &mut out,
        "uptime_seconds",
        "gauge",
        "Seconds since the server started.",
        s.uptime_seconds,
    );
    header(
        &mut out,
        "responses_total",
        "counter",
        "Answers sent, by status code.",
    );
    for (status, count) in &s.statuses {
        let _ = writeln!(
            out,
            "mock_server_responses_total{{status=\"{status}\"}} {count}"
        );
    }
    labelled(&mut out, "route", &s.routes);
    labelled(&mut out, "pool", &s.pools);
    out
}

/// Every request counter and gauge once more, per route or per pool.
fn labelled(
    out: &mut String,
    label: &str,
    parts: &std::collections::BTreeMap<String, StatsSnapshot>,
) {
    let Some(first) = parts.values().next() else {
        return;
    };
    let kinds = request_counters(first)
        .map(|(name, help, _)| (name, help, "counter"))
        .into_iter()
        .chain(request_gauges(first).map(|(name, help, _)| (name, help, "gauge")));
    for (i, (name, help, kind)) in kinds.enumerate() {
        header(
            out,
            &format!("{label}_{name}"),
            kind,
            &format!("{help} Per {label}."),
        );
        for (part, snapshot) in parts {
            let counters = request_counters(snapshot).map(|c| c.2);
            let gauges = request_gauges(snapshot).map(|g| g.2);
            let value = counters.iter().chain(&gauges).nth(i).copied().unwrap_or(0);
            // Names were checked at load: no quote, no backslash.
            let _ = writeln!(
                out,
                "mock_server_{label}_{name}{{{label}=\"{part}\"}} {value}"
            );
        }
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP mock_server_{name} {help}");
    let _ = writeln!(out, "# TYPE mock_server_{name} {kind}");
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: f64) {
    header(out, name, kind, help);
    let _ = writeln!(out, "mock_server_{name} {value}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn every_sample_line_is_name_labels_value() {
        let snapshot = StatsSnapshot {
            received: 12,
            served: 10,
            rejected: 2,
            statuses: BTreeMap::from([(200, 9), (503, 3)]),
            uptime_seconds: 1.5,
            delay_overshoot_samples: 7,
            delay_overshoot_p50_us: 128,
            delay_overshoot_p99_us: 4096,
            write_timeouts: 3,
            connections_accepted: 5,
            ..StatsSnapshot::default()
        };
        let text = render(&snapshot);
        assert!(text.contains("# TYPE mock_server_requests_received_total counter\nmock_server_requests_received_total 12\n"));
        assert!(text.contains("mock_server_in_service 0\n"));
        assert!(text.contains("mock_server_uptime_seconds 1.5\n"));
        assert!(text.contains("mock_server_delay_overshoot_samples_total 7\n"));
        assert!(text.contains(
            "# TYPE mock_server_write_timeouts_total counter\nmock_server_write_timeouts_total 3\n"
        ));
        assert!(text.contains("mock_server_connections_accepted_total 5\n"));
        assert!(text.contains("mock_server_delay_overshoot_p50_seconds 0.000128\n"));
        assert!(text.contains("mock_server_delay_overshoot_p99_seconds 0.004096\n"));
        assert!(text.contains("mock_server_responses_total{status=\"503\"} 3\n"));
        assert!(!text.contains("route"), "no route families without routes");
        let with_routes = StatsSnapshot {
            routes: BTreeMap::from([(
                "reads".to_string(),
                StatsSnapshot {
                    received: 4,
                    queued: 1,
                    ..StatsSnapshot::default()
                },
            )]),
            pools: BTreeMap::from([(
                "db".to_string(),
                StatsSnapshot {
                    in_service: 2,
                    ..StatsSnapshot::default()
                },
            )]),
            ..snapshot.clone()
        };
        let text = render(&with_routes);
        assert!(
            text.contains("mock_server_route_requests_received_total{route=\"reads\"} 4\n"),
            "{text}"
        );
        assert!(text.contains("mock_server_route_queued{route=\"reads\"} 1\n"));
        assert!(text.contains("# TYPE mock_server_pool_in_service gauge\nmock_server_pool_in_service{pool=\"db\"} 2\n"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.rsplit_once(' ').unwrap();
            let name = name.split('{').next().unwrap();
            assert!(name.starts_with("mock_server_"), "{line}");
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}
