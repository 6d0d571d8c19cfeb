//! `--set path=value` overrides applied to a scenario before validation.
//!
//! The path is dot-separated. A segment that meets a list picks the item whose
//! `name` equals it, or the item at that index: `cases.500-tasks.tasks=1000`,
//! `cases.0.requests=10`, `server.capacity=50`. The value is read as YAML, so
//! `[1, 2, 5]` is a list and `20ms` a string.

use serde_yaml::{Mapping, Value};

/// Applies one `path=value` override to a parsed scenario document.
pub fn apply(doc: &mut Value, item: &str) -> Result<(), String> {
    let (path, raw_value) = item
        .split_once('=')
        .ok_or_else(|| "expected PATH=VALUE, e.g. server.capacity=50".to_string())?;
    let segments: Vec<&str> = path.trim().split('.').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(format!("invalid path {path:?}: empty segment"));
    }
    let value: Value = serde_yaml::from_str(raw_value)
        .map_err(|e| format!("the value {raw_value:?} is not valid YAML: {e}"))?;
    let (last, parents) = segments.split_last().ok_or("empty path")?;
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
        _ => Err(format!(
            "{path:?}: {:?} is not a mapping or list",
            parents.join(".")
        )),
    }
}

fn child<'v>(node: &'v mut Value, seg: &str, so_far: &[&str]) -> Result<&'v mut Value, String> {
    match node {
        Value::Mapping(map) => {
            let key = Value::String(seg.to_string());
            if !map.contains_key(&key) {
                map.insert(key.clone(), Value::Mapping(Mapping::new()));
            }
            map.get_mut(&key).ok_or_else(|| "unreachable".to_string())
        }
        Value::Sequence(items) => pick(items, seg).ok_or_else(|| no_item(seg, &so_far.join("."))),
        _ => Err(format!("{:?} is not a mapping or list", so_far.join("."))),
    }
}

fn pick<'v>(items: &'v mut [Value], seg: &str) -> Option<&'v mut Value> {
    let by_name = items
        .iter()
        .position(|item| item.get("name").and_then(Value::as_str) == Some(seg));
    let index = by_name.or_else(|| seg.parse::<usize>().ok().filter(|&i| i < items.len()))?;
    items.get_mut(index)
}

fn no_item(seg: &str, path: &str) -> String {
    format!("{path:?}: no list item named {seg:?} (and it is not a valid index)")
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
        let mut d = doc();
        assert!(apply(&mut d, "server.capacity")
            .unwrap_err()
            .contains("PATH=VALUE"));
        assert!(apply(&mut d, "cases.zz.tasks=1")
            .unwrap_err()
            .contains("no list item named \"zz\""));
        assert!(apply(&mut d, "server..x=1")
            .unwrap_err()
            .contains("empty segment"));
        assert!(apply(&mut d, "server.delay.x=1")
            .unwrap_err()
            .contains("not a mapping"));
    }
}
