//! Run-time changes: a JSON merge patch (RFC 7386) of the configuration's
//! shape, applied to the current settings' written form
//! ([`Settings::to_config`]) and validated by the same rules as a file.
//!
//! One extension: `routes` may be an object keyed by route name, which
//! patches those routes and leaves the others (`{"routes": {"writes":
//! {"delay": "50ms"}}}`); an array replaces the list, as in RFC 7386.
//! Only run-time fields may change: behaviour (delay, status, body, faults,
//! pace), capacity and queue limits, of the top level, each route and each
//! pool. What would need a new listener, new threads or a new routing table
//! (listen, mode, timeouts, route names, methods, paths and pools, a
//! capacity turning limited or unlimited) is refused, and nothing changes.
//! [`validate_schedule`] checks each phase at load the same way, against
//! the settings the phases before it leave.

use serde_json::{Map, Value};

use super::{ConfigError, PhaseConfig, RouteCapacity, ServerConfig, Settings};
use crate::config::Phase;

/// The settings after `patch`, or why it is refused (nothing changes).
pub(crate) fn apply(current: &Settings, patch: &Value) -> Result<Settings, ConfigError> {
    let Value::Object(patch) = patch else {
        return Err(ConfigError::Patch(
            "a change must be a JSON object, such as {\"capacity\": 10}".into(),
        ));
    };
    if patch.contains_key("schedule") {
        return Err(refused("schedule"));
    }
    let written = current.to_config();
    let base = serde_json::to_value(&written)
        .map_err(|e| ConfigError::Patch(format!("cannot encode the current settings: {e}")))?;
    let config = match decode(merged(&base, patch)?) {
        Ok(config) => config,
        Err(e) => {
            let message = locate(&base, patch).unwrap_or_else(|| e.to_string());
            return Err(ConfigError::Patch(message));
        }
    };
    let mut next = config.validate()?;
    next.schedule = current.schedule.clone();
    next.admin_token = current.admin_token.clone();
    frozen(current, &next)?;
    Ok(next)
}

/// `base` with `patch` merged in (routes by name, see the module doc).
fn merged(base: &Value, patch: &Map<String, Value>) -> Result<Value, ConfigError> {
    let mut base = base.clone();
    let mut patch = patch.clone();
    match patch.remove("routes") {
        Some(Value::Object(by_name)) => patch_routes_by_name(&mut base, by_name)?,
        Some(list) => {
            patch.insert("routes".into(), list);
        }
        None => {}
    }
    merge(&mut base, &Value::Object(patch));
    Ok(base)
}

fn decode(value: Value) -> Result<ServerConfig, serde_json::Error> {
    serde_json::from_value(value)
}

/// The first field of `patch` that cannot be decoded on its own, with the
/// field rule's message: `capacity: 0 is not allowed; expected ...`, the
/// words a file gets (JSON values carry no field path of their own).
fn locate(base: &Value, patch: &Map<String, Value>) -> Option<String> {
    let mut leaves = Vec::new();
    leaves_of(&Value::Object(patch.clone()), &mut Vec::new(), &mut leaves);
    leaves.into_iter().find_map(|(path, single)| {
        let Value::Object(single) = single else {
            return None;
        };
        let value = merged(base, &single).ok()?;
        decode(value)
            .err()
            .map(|message| format!("{}: {message}", path.join(".")))
    })
}

/// Every leaf of a patch, as its path and a patch that sets it alone.
fn leaves_of(value: &Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, Value)>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, inner) in map {
                path.push(key.clone());
                leaves_of(inner, path, out);
                path.pop();
            }
        }
        leaf => {
            let single = path.iter().rev().fold(leaf.clone(), |inner, key| {
                Value::Object(Map::from_iter([(key.clone(), inner)]))
            });
            out.push((path.clone(), single));
        }
    }
}

/// Checks every phase in order, each against the settings the ones before
/// it leave, and returns them sorted by time (stable).
pub(crate) fn validate_schedule(
    settings: &Settings,
    phases: &[PhaseConfig],
) -> Result<Vec<Phase>, ConfigError> {
    let mut order: Vec<usize> = (0..phases.len()).collect();
    order.sort_by_key(|&i| phases[i].at);
    let mut now = settings.clone();
    let mut out = Vec::with_capacity(phases.len());
    for i in order {
        let phase = &phases[i];
        now = apply(&now, &phase.set).map_err(|e| ConfigError::InvalidAt {
            field: format!("schedule[{i}].set"),
            message: e.to_string(),
        })?;
        out.push(Phase {
            at: phase.at.0,
            set: phase.set.clone(),
        });
    }
    Ok(out)
}

/// RFC 7386: objects merge, `null` removes, anything else replaces.
fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target) = target else {
        return;
    };
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else {
            merge(target.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// Applies `{"routes": {NAME: patch}}` to the routes of that name.
fn patch_routes_by_name(base: &mut Value, by_name: Map<String, Value>) -> Result<(), ConfigError> {
    let routes = base.get_mut("routes").and_then(Value::as_array_mut);
    let Some(routes) = routes else {
        return Err(ConfigError::Patch(
            "routes: there are no routes to change".into(),
        ));
    };
    for (name, patch) in by_name {
        let found = routes
            .iter_mut()
            .find(|r| r.get("name").and_then(Value::as_str) == Some(name.as_str()));
        let Some(route) = found else {
            let names: Vec<&str> = routes
                .iter()
                .filter_map(|r| r.get("name").and_then(Value::as_str))
                .collect();
            return Err(ConfigError::Patch(format!(
                "routes.{name}: there is no route of that name; the routes are: {}",
                names.join(", ")
            )));
        };
        merge(route, &patch);
    }
    Ok(())
}

fn refused(field: &str) -> ConfigError {
    ConfigError::Patch(format!(
        "{field}: cannot change while the server runs; what can: delay, per_in_service, status, \
         body_size, content_type, the fault and slow-body fields, capacity, queue, queue_timeout, \
         overflow, reject_status and retry_after (top level, routes and pools)"
    ))
}

/// Refuses a change to anything that is fixed once the server runs.
fn frozen(old: &Settings, new: &Settings) -> Result<(), ConfigError> {
    let fixed = [
        ("listen", old.listen == new.listen),
        ("mode", old.mode == new.mode),
        ("seed", old.seed == new.seed),
        ("max_delay", old.max_delay == new.max_delay),
        ("max_body", old.max_body == new.max_body),
        ("backlog", old.backlog == new.backlog),
        ("header_timeout", old.header_timeout == new.header_timeout),
        ("idle_timeout", old.idle_timeout == new.idle_timeout),
        ("write_timeout", old.write_timeout == new.write_timeout),
        (
            "max_header_size",
            old.max_header_size == new.max_header_size,
        ),
        (
            "max_request_body",
            old.max_request_body == new.max_request_body,
        ),
        ("shutdown_grace", old.shutdown_grace == new.shutdown_grace),
        ("admin", old.admin == new.admin),
        ("tls", old.tls == new.tls),
        (
            "capacity (between limited and unlimited)",
            old.capacity.is_some() == new.capacity.is_some(),
        ),
        (
            "capacity (in blocking mode: one thread per slot, started once)",
            old.mode != super::Mode::Blocking || old.capacity == new.capacity,
        ),
        (
            "pools (their names)",
            old.pools.len() == new.pools.len()
                && old
                    .pools
                    .iter()
                    .zip(&new.pools)
                    .all(|(a, b)| a.name == b.name),
        ),
        (
            "routes (their names, methods, paths and pools)",
            old.routes.len() == new.routes.len()
                && old.routes.iter().zip(&new.routes).all(|(a, b)| {
                    a.name == b.name
                        && a.methods == b.methods
                        && a.path == b.path
                        && same_kind(&a.capacity, &b.capacity)
                }),
        ),
    ];
    match fixed.iter().find(|(_, same)| !same) {
        Some((field, _)) => Err(refused(field)),
        None => Ok(()),
    }
}

/// Whether two routes take their slots from the same place.
fn same_kind(a: &RouteCapacity, b: &RouteCapacity) -> bool {
    match (a, b) {
        (RouteCapacity::Shared, RouteCapacity::Shared) => true,
        (RouteCapacity::Pool(x), RouteCapacity::Pool(y)) => x == y,
        (RouteCapacity::Own(_), RouteCapacity::Own(_)) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(yaml: &str) -> Settings {
        serde_yaml::from_str::<ServerConfig>(yaml)
            .unwrap()
            .validate()
            .unwrap()
    }

    const ROUTED: &str = "capacity: 8\npools:\n  db: {capacity: 20}\nroutes:\n  - {name: reads, method: GET, path: /api/*, pool: db}\n  - {name: writes, method: [POST, PUT], path: /api/*, pool: db, delay: 40ms}\n  - {name: slow, path: /slow, capacity: 2, queue: 3}\n";

    #[test]
    fn written_form_validates_back_to_the_same_settings() {
        for yaml in [
            "{}",
            ROUTED,
            "delay: uniform(1ms, 3ms)\nbandwidth: 1000\nerror_every: 3\n",
        ] {
            let s = settings(yaml);
            assert_eq!(s.to_config().validate().unwrap(), s, "{yaml}");
        }
    }

    #[test]
    fn patches_change_run_time_fields_by_name() {
        let s = settings(ROUTED);
        let patch = json!({"capacity": 4, "pools": {"db": {"capacity": 10}},
            "routes": {"writes": {"delay": "80ms"}}});
        let next = apply(&s, &patch).unwrap();
        assert_eq!(next.capacity.map(|c| c.get()), Some(4));
        assert_eq!(next.pools[0].admit.capacity.get(), 10);
        assert_eq!(next.routes[1].behaviour.delay.to_string(), "80ms");
        assert_eq!(next.routes[0].behaviour, s.routes[0].behaviour);
    }

    #[test]
    fn bad_patches_are_refused_with_the_file_rules_message() {
        let s = settings(ROUTED);
        let err = apply(&s, &json!({"capacity": 0})).unwrap_err().to_string();
        assert!(
            err.starts_with("capacity: 0 is not allowed; expected an integer from 1"),
            "{err}"
        );
        let err = apply(&s, &json!({"listen": "127.0.0.1:1"}))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("listen: cannot change while the server runs"),
            "{err}"
        );
        let err = apply(&s, &json!({"routes": {"nope": {}}}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("reads, writes, slow"), "{err}");
        let err = apply(&s, &json!({"routes": {"reads": {"path": "/x"}}}))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("routes (their names"), "{err}");
        let err = apply(&s, &json!({"pools": {"db": {"capacity": "many"}}}))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"many\" is not allowed") || err.contains("many is not allowed"),
            "{err}"
        );
        assert!(
            apply(&s, &json!({"capacity": null})).is_err(),
            "limited to unlimited"
        );
        assert!(apply(&s, &json!([1])).is_err());
    }

    #[test]
    fn schedule_is_checked_in_order_at_load() {
        let err = serde_yaml::from_str::<ServerConfig>(
            "capacity: 4\nschedule:\n  - {at: 1s, set: {capacity: 2}}\n  - {at: 2s, set: {queue_timeout: -1s}}\n",
        )
        .unwrap()
        .validate()
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("schedule[1].set: queue_timeout"), "{err}");
        let s = settings("capacity: 4\nschedule:\n  - {at: 2s, set: {capacity: 8}}\n  - {at: 1s, set: {capacity: 2}}\n");
        let times: Vec<u64> = s.schedule.iter().map(|p| p.at.as_secs()).collect();
        assert_eq!(times, [1, 2]);
    }
}
