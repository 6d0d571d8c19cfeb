//! Credentials never leave the process: every piece of input that is echoed
//! into a file, the terminal or an error message goes through here first.
//!
//! One rule for header names (and `--set` paths and query parameters):
//! `Authorization`, `Cookie`, `Proxy-Authorization`, `Set-Cookie`, and any
//! name containing `token`, `key`, `secret` or `password` (case-insensitive)
//! is sensitive; its value becomes [`REDACTED`]. In URLs the password of the
//! userinfo (`http://user:PASSWORD@host/`) becomes [`URL_PASSWORD`].

use serde_yaml::Value;

/// What a sensitive value is replaced with.
pub const REDACTED: &str = "<redacted>";

/// What the password of a URL's userinfo is replaced with.
pub const URL_PASSWORD: &str = "***";

/// Header names whose values are always secret.
pub const SENSITIVE_HEADERS: [&str; 4] = [
    "authorization",
    "cookie",
    "proxy-authorization",
    "set-cookie",
];

/// Parts that make any name sensitive.
pub const SENSITIVE_PARTS: [&str; 4] = ["token", "key", "secret", "password"];

/// Whether a header (or field, or query parameter) of this name carries a
/// credential.
pub fn is_sensitive(name: &str) -> bool {
    let name = name.trim().to_ascii_lowercase();
    SENSITIVE_HEADERS.contains(&name.as_str()) || SENSITIVE_PARTS.iter().any(|p| name.contains(p))
}

/// A header value as it may be shown: [`REDACTED`] for a sensitive name.
pub fn header_value(name: &str, value: &str) -> String {
    if is_sensitive(name) {
        REDACTED.to_string()
    } else {
        value.to_string()
    }
}

/// A URL as it may be shown: the userinfo password replaced by
/// [`URL_PASSWORD`], the values of sensitive query parameters by
/// [`REDACTED`]. Text that is not a URL comes back unchanged.
pub fn url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return path_and_query(url);
    };
    let rest_at = scheme_end + 3;
    let rest = &url[rest_at..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_len);
    format!(
        "{}{}{}",
        &url[..rest_at],
        authority_without_password(authority),
        path_and_query(tail)
    )
}

/// `user:password@host` → `user:***@host`; anything else unchanged.
fn authority_without_password(authority: &str) -> String {
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:{URL_PASSWORD}@{host}"),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    }
}

/// A path with query as it may be shown: values of sensitive query
/// parameters (`?api_key=…`, `&token=…`) replaced by [`REDACTED`].
pub fn path_and_query(path: &str) -> String {
    let Some((before, query)) = path.split_once('?') else {
        return path.to_string();
    };
    let (query, fragment) = match query.split_once('#') {
        Some((q, f)) => (q, Some(f)),
        None => (query, None),
    };
    let params: Vec<String> = query
        .split('&')
        .map(|param| match param.split_once('=') {
            Some((name, _)) if is_sensitive(name) => format!("{name}={REDACTED}"),
            _ => param.to_string(),
        })
        .collect();
    let mut out = format!("{before}?{}", params.join("&"));
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

/// A `--set PATH=VALUE` override as it may be recorded: the whole value
/// redacted when the path ends in a sensitive name
/// (`request.headers.Authorization=<redacted>`); otherwise sensitive entries
/// inside a YAML value (`request.headers={Cookie: …}`) and URL passwords
/// (`url=http://u:***@host/`) are redacted and the rest kept as given.
pub fn override_item(item: &str) -> String {
    let Some((path, value)) = item.split_once('=') else {
        return url_passwords_in_text(item);
    };
    let last = path.rsplit('.').next().unwrap_or(path);
    if is_sensitive(last) {
        return format!("{path}={REDACTED}");
    }
    match serde_yaml::from_str::<Value>(value) {
        // A plain string (a URL, say) is shown as given, minus any password.
        Ok(Value::String(_)) | Err(_) => format!("{path}={}", url_passwords_in_text(value)),
        Ok(mut parsed) => {
            if redact_yaml(&mut parsed) {
                let shown = serde_json::to_string(&parsed).unwrap_or_else(|_| REDACTED.into());
                format!("{path}={shown}")
            } else {
                item.to_string()
            }
        }
    }
}

/// Redacts sensitive mapping entries and URL passwords inside a YAML value;
/// true when anything changed.
fn redact_yaml(value: &mut Value) -> bool {
    match value {
        Value::Mapping(map) => {
            let mut changed = false;
            for (k, v) in map.iter_mut() {
                if k.as_str().is_some_and(is_sensitive) {
                    *v = Value::String(REDACTED.into());
                    changed = true;
                } else {
                    changed |= redact_yaml(v);
                }
            }
            changed
        }
        Value::Sequence(items) => items
            .iter_mut()
            .fold(false, |changed, v| redact_yaml(v) | changed),
        Value::String(s) => {
            let shown = url_passwords_in_text(s);
            let changed = shown != *s;
            *s = shown;
            changed
        }
        Value::Tagged(tagged) => redact_yaml(&mut tagged.value),
        _ => false,
    }
}

/// Every `scheme://user:password@` in free text with the password replaced.
pub fn url_passwords_in_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || "/?#\"'<>`".contains(c))
            .unwrap_or(tail.len());
        out.push_str(&authority_without_password(&tail[..end]));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Removes known secrets from messages that echo input (errors, logs).
///
/// It knows the values given to sensitive `--set` paths and the URL
/// passwords found in `--set` values, and also removes any URL password in
/// the text.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor for the secrets found in these `--set` overrides.
    pub fn for_overrides(overrides: &[String]) -> Redactor {
        let mut secrets = Vec::new();
        for item in overrides {
            let Some((path, value)) = item.split_once('=') else {
                continue;
            };
            let last = path.rsplit('.').next().unwrap_or(path);
            if is_sensitive(last) {
                secrets.push(value.to_string());
                if let Ok(Value::String(s)) = serde_yaml::from_str::<Value>(value) {
                    secrets.push(s);
                }
            }
            secrets.extend(url_passwords(value));
        }
        secrets.retain(|s| !s.trim().is_empty());
        // Longest first, so a secret that contains another goes whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    /// The text with every known secret and URL password replaced.
    pub fn text(&self, text: &str) -> String {
        let mut out = url_passwords_in_text(text);
        for secret in &self.secrets {
            out = out.replace(secret.as_str(), REDACTED);
        }
        out
    }
}

/// The URL passwords in free text.
fn url_passwords(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let tail = &rest[at + 3..];
        let end = tail
            .find(|c: char| c.is_whitespace() || "/?#\"'<>`".contains(c))
            .unwrap_or(tail.len());
        if let Some((userinfo, _)) = tail[..end].rsplit_once('@') {
            if let Some((_, password)) = userinfo.split_once(':') {
                found.push(password.to_string());
            }
        }
        rest = &tail[end..];
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_names_follow_one_rule() {
        for name in [
            "Authorization",
            "cookie",
            "Proxy-Authorization",
            "Set-Cookie",
            "X-Api-Key",
            "x-auth-token",
            "Client-Secret",
            "db_password",
        ] {
            assert!(is_sensitive(name), "{name}");
        }
        for name in ["Accept", "Content-Type", "User-Agent", "X-Request-Id"] {
            assert!(!is_sensitive(name), "{name}");
        }
        assert_eq!(header_value("Authorization", "Bearer SECRET"), REDACTED);
        assert_eq!(header_value("Accept", "*/*"), "*/*");
    }

    #[test]
    fn url_passwords_and_sensitive_query_values_are_redacted() {
        let cases = [
            (
                "http://user:SECRET@127.0.0.1:8080/a",
                "http://user:***@127.0.0.1:8080/a",
            ),
            ("http://user@host/", "http://user@host/"),
            ("http://host:80/x?y=1", "http://host:80/x?y=1"),
            (
                "http://host/x?api_key=SECRET&page=2#top",
                "http://host/x?api_key=<redacted>&page=2#top",
            ),
            ("/items?token=SECRET", "/items?token=<redacted>"),
            ("http://u:p:q@h", "http://u:***@h"),
            ("embedded", "embedded"),
        ];
        for (given, shown) in cases {
            assert_eq!(url(given), shown, "{given}");
        }
    }

    #[test]
    fn overrides_keep_their_path_and_lose_their_secret() {
        let cases = [
            (
                "request.headers.Authorization=Bearer SECRET",
                "request.headers.Authorization=<redacted>",
            ),
            (
                "request.headers.x-api-key='SECRET'",
                "request.headers.x-api-key=<redacted>",
            ),
            (
                "url=http://user:SECRET@127.0.0.1:1/",
                "url=http://user:***@127.0.0.1:1/",
            ),
            (
                "request.headers={Cookie: SECRET, Accept: text/plain}",
                r#"request.headers={"Cookie":"<redacted>","Accept":"text/plain"}"#,
            ),
            ("server.capacity=50", "server.capacity=50"),
            ("cases.a.tasks=[1, 2]", "cases.a.tasks=[1, 2]"),
            ("no-equals-sign", "no-equals-sign"),
        ];
        for (given, shown) in cases {
            assert_eq!(override_item(given), shown, "{given}");
        }
    }

    #[test]
    fn messages_lose_every_known_secret() {
        let redactor = Redactor::for_overrides(&[
            "request.headers.Authorization=Bearer SECRET1".into(),
            "request.headers.Cookie='SECRET2'".into(),
            "url=http://u:SECRET3@h/".into(),
            "server.capacity=50".into(),
        ]);
        let message = "s.yaml: --set request.headers.Authorization=Bearer SECRET1: bad; \
                       cookie SECRET2; url \"http://u:SECRET3@h/\"; other http://x:SECRET4@y; capacity 50";
        let shown = redactor.text(message);
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("capacity 50"), "{shown}");
        assert!(shown.contains("Authorization=<redacted>: bad"), "{shown}");
    }
}
