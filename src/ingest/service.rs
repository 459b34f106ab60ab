//! Service metrics of a ticket: first response time, resolution time and the
//! Customer Effort Score, read from whichever of the vendors' fields an item
//! carries (see shared FORMATS.md):
//!
//! - Zendesk ticket metrics (`metric_set`, side-loaded with
//!   `include=metric_sets`): `reply_time_in_minutes`,
//!   `full_resolution_time_in_minutes` / `first_resolution_time_in_minutes`,
//!   each `{calendar, business}` (calendar minutes are taken).
//! - Intercom `statistics`: `time_to_admin_reply`, `time_to_last_close` /
//!   `time_to_first_close`, in seconds.
//! - Freshdesk `stats` (`include=stats`): `first_responded_at`,
//!   `resolved_at` / `closed_at`, timestamps measured from `created_at`.
//! - Plain exports: `first_response_minutes`, `resolution_minutes` (or
//!   `_seconds`), `ces` / `customer_effort_score` on the 1-7 scale.
//!
//! The fields stay in `extra` as exported; the record gets the derived
//! minutes. A field of the wrong type rejects the item with a reason naming
//! it, as a bad rating does; a time before the ticket's creation (clock skew
//! between systems) is treated as absent.

use std::collections::HashSet;
use std::sync::LazyLock;

use serde_json::{Map, Value};

use super::date::parse_date_value;
use super::mapping::{lookup, number};

/// How a candidate field measures a duration.
#[derive(Clone, Copy)]
enum Unit {
    /// Minutes, as a number or a Zendesk `{calendar, business}` object.
    Minutes,
    /// Seconds.
    Seconds,
    /// A timestamp; the duration runs from the record's creation.
    At,
}

/// First response candidates, most specific first.
const FIRST_RESPONSE: &[(&str, Unit)] = &[
    ("metric_set.reply_time_in_minutes", Unit::Minutes),
    ("reply_time_in_minutes", Unit::Minutes),
    ("statistics.time_to_admin_reply", Unit::Seconds),
    ("stats.first_responded_at", Unit::At),
    ("first_responded_at", Unit::At),
    ("first_response_minutes", Unit::Minutes),
    ("first_response_time_minutes", Unit::Minutes),
    ("first_response_seconds", Unit::Seconds),
    ("first_response_time_seconds", Unit::Seconds),
];

/// Resolution candidates: full resolution (after reopens) before first.
const RESOLUTION: &[(&str, Unit)] = &[
    ("metric_set.full_resolution_time_in_minutes", Unit::Minutes),
    ("full_resolution_time_in_minutes", Unit::Minutes),
    ("metric_set.first_resolution_time_in_minutes", Unit::Minutes),
    ("first_resolution_time_in_minutes", Unit::Minutes),
    ("statistics.time_to_last_close", Unit::Seconds),
    ("statistics.time_to_first_close", Unit::Seconds),
    ("stats.resolved_at", Unit::At),
    ("stats.closed_at", Unit::At),
    ("resolved_at", Unit::At),
    ("solved_at", Unit::At),
    ("resolution_minutes", Unit::Minutes),
    ("resolution_time_minutes", Unit::Minutes),
    ("resolution_seconds", Unit::Seconds),
    ("resolution_time_seconds", Unit::Seconds),
];

/// Customer Effort Score candidates (1-7).
const CES: &[&str] = &["ces", "ces_score", "customer_effort_score", "effort_score"];

/// Paths a `--map` file names for the service metrics, tried before the
/// vendors' fields: durations in minutes, CES on the 1-7 scale.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServicePaths<'a> {
    /// Minutes to the first agent reply.
    pub first_response_minutes: &'a [&'a str],
    /// Minutes to resolution.
    pub resolution_minutes: &'a [&'a str],
    /// CES answer.
    pub ces: &'a [&'a str],
}

/// The service metrics of one item.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ServiceMetrics {
    /// Minutes to the first agent reply.
    pub first_response_minutes: Option<f64>,
    /// Minutes to resolution.
    pub resolution_minutes: Option<f64>,
    /// Customer Effort Score, 1 to 7.
    pub ces: Option<f64>,
}

/// Reads the service metrics of an item created at `created_at` (Unix
/// seconds); `Err` names the field of the wrong type.
pub fn service_metrics(
    obj: &Map<String, Value>,
    created_at: Option<i64>,
    mapped: &ServicePaths<'_>,
) -> Result<ServiceMetrics, String> {
    // Most items hold none of the fields: a look at their few keys says so
    // without trying every candidate path.
    let mapped_paths = || {
        mapped
            .first_response_minutes
            .iter()
            .chain(mapped.resolution_minutes)
            .chain(mapped.ces)
    };
    let relevant = |key: &String| {
        BUILTIN_KEYS.contains(key.as_str())
            || mapped_paths().any(|p| p == key || top_segment(p) == key)
    };
    if !obj.keys().any(relevant) {
        return Ok(ServiceMetrics::default());
    }
    let ces_paths: Vec<&str> = mapped.ces.iter().chain(CES).copied().collect();
    Ok(ServiceMetrics {
        first_response_minutes: duration(
            obj,
            &candidates(mapped.first_response_minutes, FIRST_RESPONSE),
            created_at,
        )?,
        resolution_minutes: duration(
            obj,
            &candidates(mapped.resolution_minutes, RESOLUTION),
            created_at,
        )?,
        ces: ces(obj, &ces_paths)?,
    })
}

/// The top-level keys a built-in candidate path can be found under: the
/// whole path (a flat CSV header) and its first segment
/// ([`lookup`] tries both).
static BUILTIN_KEYS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    FIRST_RESPONSE
        .iter()
        .chain(RESOLUTION)
        .map(|(p, _)| *p)
        .chain(CES.iter().copied())
        .flat_map(|p| [p, top_segment(p)])
        .collect()
});

/// The first segment of a dotted path.
fn top_segment(path: &str) -> &str {
    path.split('.').next().unwrap_or(path)
}

/// Mapped paths (in minutes) first, then the built-in candidates, without
/// an allocation per path.
fn candidates<'p>(
    mapped: &[&'p str],
    builtin: &'static [(&'static str, Unit)],
) -> Vec<(&'p str, Unit)> {
    mapped
        .iter()
        .map(|p| (*p, Unit::Minutes))
        .chain(builtin.iter().copied())
        .collect()
}

fn present<'v>(obj: &'v Map<String, Value>, path: &str) -> Option<&'v Value> {
    lookup(obj, path).filter(|v| !v.is_null() && v.as_str().is_none_or(|s| !s.trim().is_empty()))
}

fn duration(
    obj: &Map<String, Value>,
    candidates: &[(&str, Unit)],
    created_at: Option<i64>,
) -> Result<Option<f64>, String> {
    for &(path, unit) in candidates {
        let Some(value) = present(obj, path) else {
            continue;
        };
        let minutes = match unit {
            Unit::Minutes => match value {
                // Zendesk: {calendar, business}; either may be null while open.
                Value::Object(m) => match ["calendar", "business"]
                    .iter()
                    .find_map(|k| m.get(*k).filter(|v| !v.is_null()))
                {
                    Some(v) => Some(number(v).ok_or_else(|| wrong(path, v))?),
                    None => continue,
                },
                v => Some(number(v).ok_or_else(|| wrong(path, v))?),
            },
            Unit::Seconds => Some(number(value).ok_or_else(|| wrong(path, value))? / 60.0),
            Unit::At => {
                let at = parse_date_value(value)
                    .ok_or_else(|| format!("bad date in `{path}`: {}", brief(value)))?;
                let Some(created) = created_at else {
                    continue;
                };
                Some((at - created) as f64 / 60.0)
            }
        };
        if let Some(m) = minutes.filter(|m| *m >= 0.0) {
            return Ok(Some((m * 100.0).round() / 100.0));
        }
    }
    Ok(None)
}

fn ces(obj: &Map<String, Value>, paths: &[&str]) -> Result<Option<f64>, String> {
    for path in paths {
        let Some(value) = present(obj, path) else {
            continue;
        };
        return match number(value) {
            Some(n) if (1.0..=7.0).contains(&n) => Ok(Some(n)),
            _ => Err(format!(
                "wrong type in `{path}`: CES must be a number 1 to 7, got {}",
                brief(value)
            )),
        };
    }
    Ok(None)
}

fn wrong(path: &str, v: &Value) -> String {
    format!(
        "wrong type in `{path}`: a duration must be a number, got {}",
        brief(v)
    )
}

fn brief(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn metrics(v: Value, created: Option<i64>) -> Result<ServiceMetrics, String> {
        service_metrics(v.as_object().unwrap(), created, &ServicePaths::default())
    }

    #[test]
    fn items_without_metric_fields_have_none_and_every_candidate_is_looked_at() {
        let none = metrics(json!({"id": 1, "text": "late", "created_at": 5}), Some(5));
        assert_eq!(none, Ok(ServiceMetrics::default()));
        // Each built-in path, nested or as a flat header, is still found.
        for (path, unit) in FIRST_RESPONSE {
            let value = match unit {
                Unit::At => json!("1970-01-01T01:00:00Z"),
                _ => json!(120),
            };
            let mut nested = json!({});
            let mut at = &mut nested;
            for part in path.split('.') {
                at = &mut at[part];
            }
            *at = value.clone();
            for item in [nested, json!({ *path: value })] {
                let m = metrics(item.clone(), Some(0)).unwrap();
                assert!(m.first_response_minutes.is_some(), "{item}");
            }
        }
        for path in CES {
            assert_eq!(metrics(json!({ *path: 4 }), None).unwrap().ces, Some(4.0));
        }
        let paths = ServicePaths {
            resolution_minutes: &["sla.resolved_after"],
            ..ServicePaths::default()
        };
        let obj = json!({"sla": {"resolved_after": 42}});
        let m = service_metrics(obj.as_object().unwrap(), None, &paths).unwrap();
        assert_eq!(m.resolution_minutes, Some(42.0));
        let obj = json!({"sla.resolved_after": 43});
        let m = service_metrics(obj.as_object().unwrap(), None, &paths).unwrap();
        assert_eq!(m.resolution_minutes, Some(43.0));
    }

    #[test]
    fn mapped_paths_come_first_in_minutes() {
        let paths = ServicePaths {
            resolution_minutes: &["sla.resolved_after"],
            ces: &["effort"],
            ..ServicePaths::default()
        };
        let obj = json!({"sla": {"resolved_after": 42}, "resolution_minutes": 7, "effort": 3});
        let m = service_metrics(obj.as_object().unwrap(), None, &paths).unwrap();
        assert_eq!(m.resolution_minutes, Some(42.0));
        assert_eq!(m.ces, Some(3.0));
    }

    #[test]
    fn zendesk_metric_set_takes_calendar_minutes_and_full_resolution() {
        let m = metrics(
            json!({"metric_set": {
                "reply_time_in_minutes": {"calendar": 95, "business": 30},
                "first_resolution_time_in_minutes": {"calendar": 600, "business": 200},
                "full_resolution_time_in_minutes": {"calendar": 2880, "business": 900}
            }}),
            None,
        )
        .unwrap();
        assert_eq!(m.first_response_minutes, Some(95.0));
        assert_eq!(m.resolution_minutes, Some(2880.0));
    }

    #[test]
    fn zendesk_open_ticket_has_no_resolution_yet() {
        let m = metrics(
            json!({"metric_set": {
                "reply_time_in_minutes": {"calendar": 12, "business": 12},
                "full_resolution_time_in_minutes": {"calendar": null, "business": null}
            }}),
            None,
        )
        .unwrap();
        assert_eq!(m.first_response_minutes, Some(12.0));
        assert_eq!(m.resolution_minutes, None);
    }

    #[test]
    fn intercom_statistics_are_seconds() {
        let m = metrics(
            json!({"statistics": {"time_to_admin_reply": 90, "time_to_first_close": 7200}}),
            None,
        )
        .unwrap();
        assert_eq!(m.first_response_minutes, Some(1.5));
        assert_eq!(m.resolution_minutes, Some(120.0));
    }

    #[test]
    fn freshdesk_stats_are_measured_from_creation() {
        let created = 1_700_000_000;
        let m = metrics(
            json!({"stats": {
                "first_responded_at": "2023-11-14T22:43:20Z",
                "resolved_at": "2023-11-15T22:13:20Z"
            }}),
            Some(created),
        )
        .unwrap();
        assert_eq!(m.first_response_minutes, Some(30.0));
        assert_eq!(m.resolution_minutes, Some(1440.0));
        // Without a creation time, timestamps say nothing.
        let m = metrics(
            json!({"stats": {"resolved_at": "2023-11-15T22:13:20Z"}}),
            None,
        )
        .unwrap();
        assert_eq!(m.resolution_minutes, None);
    }

    #[test]
    fn plain_fields_numbers_as_strings_and_ces() {
        let m = metrics(
            json!({"first_response_minutes": "45", "resolution_seconds": 3600, "ces": "6"}),
            None,
        )
        .unwrap();
        assert_eq!(m.first_response_minutes, Some(45.0));
        assert_eq!(m.resolution_minutes, Some(60.0));
        assert_eq!(m.ces, Some(6.0));
    }

    #[test]
    fn wrong_types_name_the_field() {
        let e = metrics(json!({"ces": 9}), None).unwrap_err();
        assert!(e.contains("`ces`") && e.contains("1 to 7"), "{e}");
        let e = metrics(json!({"resolution_minutes": "soon"}), None).unwrap_err();
        assert!(
            e.contains("`resolution_minutes`") && e.contains("soon"),
            "{e}"
        );
        let e = metrics(json!({"stats": {"resolved_at": "yesterday-ish"}}), Some(0)).unwrap_err();
        assert!(e.contains("`stats.resolved_at`"), "{e}");
    }

    #[test]
    fn times_before_creation_are_absent() {
        let m = metrics(
            json!({"stats": {"resolved_at": "2000-01-01T00:00:00Z"}}),
            Some(1_700_000_000),
        )
        .unwrap();
        assert_eq!(m.resolution_minutes, None);
    }

    #[test]
    fn nothing_exported_is_nothing() {
        assert_eq!(
            metrics(json!({"id": 1, "text": "hi"}), Some(0)).unwrap(),
            ServiceMetrics::default()
        );
    }
}
