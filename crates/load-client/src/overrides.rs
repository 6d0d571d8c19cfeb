//! `--set path=value` overrides applied to a scenario before validation.
//!
//! The path is dot-separated. A segment that meets a list picks the item whose
//! `name` equals it, or the item at that index: `cases.500-tasks.tasks=1000`,
//! `cases.0.requests=10`, `server.capacity=50`. The value is read as YAML, so
//! `[1, 2, 5]` is a list and `20ms` a string.

use serde_yaml::{Mapping, Value};

/// Why an override could not be applied. Displays without the item, which
/// the caller names (`--set ITEM`).
#[derive(Debug, thiserror::Error)]
pub enum OverrideError {
    /// No `=` in the item.
    #[error("expected PATH=VALUE, e.g. server.capacity=50")]
    NoValue,
    /// `a..b`, a leading or a trailing dot.
    #[error("invalid path {path:?}: empty segment")]
    EmptySegment {
        /// The path as written.
        path: String,
    },
    /// The value does not parse as YAML.
    #[error("the value {value:?} is not valid YAML: {source}")]
    BadValue {
        /// The value as written.
        value: String,
        /// What the YAML parser said.
        source: serde_yaml::Error,
    },
    /// A list has no item of that name, and the segment is not an index.
    #[error("{path:?}: no list item named {segment:?} (and it is not a valid index)")]
    NoItem {
        /// The path up to and including the list.
        path: String,
        /// The segment that picks an item.
        segment: String,
    },
    /// A segment goes below a value that is neither a mapping nor a list.
    #[error("{parent:?} is not a mapping or list")]
    NotAContainer {
        /// The path up to the segment that cannot be followed.
        parent: String,
    },
    /// The last segment goes below a scalar value.
    #[error("{path:?}: {parent:?} is not a mapping or list")]
    LastNotAContainer {
        /// The whole path.
        path: String,
        /// The path to the scalar value.
        parent: String,
    },
}

/// Applies one `path=value` override to a parsed scenario document. The
/// error is flattened into its message: the scenario's errors carry text.
pub fn apply(doc: &mut Value, item: &str) -> Result<(), String> {
    set(doc, item).map_err(|e| e.to_string())
}

/// Applies one `path=value` override to a parsed scenario document.
pub fn set(doc: &mut Value, item: &str) -> Result<(), OverrideError> {
    let (path, raw_value) = item.split_once('=').ok_or(OverrideError::NoValue)?;
    let segments: Vec<&str> = path.trim().split('.').collect();
    let empty = || OverrideError::EmptySegment { path: path.into() };
    if segments.iter().any(|s| s.is_empty()) {
        return Err(empty());
    }
    let value: Value =
        serde_yaml::from_str(raw_value).map_err(|source| OverrideError::BadValue {
            value: raw_value.into(),
            source,
        })?;
    let (last, parents) = segments.split_last().ok_or_else(empty)?;
    let mut node = doc;
    for (depth, seg) in parents.iter().enumerate() {
        node = child(node, seg, &segments[..=depth])?;
    }
    match node {
        Value::Mapping(map) => {
            map.insert(Value::String((*last).to_string()), value);
            Ok(())
        }
        Value::Sequence(items) => {
            let slot = pick(items, last).ok_or_else(|| no_item(last, path))?;
            *slot = value;
            Ok(())
        }
        _ => Err(OverrideError::LastNotAContainer {
            path: path.into(),
            parent: parents.join("."),
        }),
    }
}

fn child<'v>(
    node: &'v mut Value,
    seg: &str,
    so_far: &[&str],
) -> Result<&'v mut Value, OverrideError> {
    match node {
        Value::Mapping(map) => Ok(map
            .entry(Value::String(seg.to_string()))
            .or_insert_with(|| Value::Mapping(Mapping::new()))),
        Value::Sequence(items) => pick(items, seg).ok_or_else(|| no_item(seg, &so_far.join("."))),
        _ => Err(OverrideError::NotAContainer {
            parent: so_far.join("."),
        }),
    }
}

fn pick<'v>(items: &'v mut [Value], seg: &str) -> Option<&'v mut Value> {
    let by_name = items
        .iter()
        .position(|item| item.get("name").and_then(Value::as_str) == Some(seg));
    let index = by_name.or_else(|| seg.parse::<usize>().ok().filter(|&i| i < items.len()))?;
    items.get_mut(index)
}

fn no_item(seg: &str, path: &str) -> OverrideError {
    OverrideError::NoItem {
        path: path.into(),
        segment: seg.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        serde_yaml::from_str("server:\n  delay: 20ms\ncases:\n  - name: a\n    tasks: 5\n").unwrap()
    }

    #[test]
    fn sets_nested_and_named_fields() {
        let mut d = doc();
        apply(&mut d, "server.capacity=50").unwrap();
        apply(&mut d, "cases.a.tasks=[1, 2]").unwrap();
        apply(&mut d, "cases.0.requests_per_task=3").unwrap();
        assert_eq!(d["server"]["capacity"], Value::from(50));
        assert_eq!(d["cases"][0]["tasks"][1], Value::from(2));
        assert_eq!(d["cases"][0]["requests_per_task"], Value::from(3));
    }

    #[test]
    fn bad_overrides_say_why() {
        let cases = [
            (
                "server.capacity",
                "expected PATH=VALUE, e.g. server.capacity=50",
            ),
            (
                "cases.zz.tasks=1",
                "\"cases.zz\": no list item named \"zz\" (and it is not a valid index)",
            ),
            ("server..x=1", "invalid path \"server..x\": empty segment"),
            (
                "server.delay.x=1",
                "\"server.delay.x\": \"server.delay\" is not a mapping or list",
            ),
            (
                "server.delay.x.y=1",
                "\"server.delay.x\" is not a mapping or list",
            ),
        ];
        for (item, message) in cases {
            let mut d = doc();
            assert_eq!(apply(&mut d, item).unwrap_err(), message, "{item}");
        }
    }

    #[test]
    fn a_bad_value_keeps_the_yaml_error_as_its_source() {
        let err = set(&mut doc(), "server.delay=[1,").unwrap_err();
        assert!(matches!(err, OverrideError::BadValue { .. }), "{err}");
        assert!(std::error::Error::source(&err).is_some());
        assert!(err
            .to_string()
            .starts_with("the value \"[1,\" is not valid YAML: "));
    }
}
