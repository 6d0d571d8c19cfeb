//! Route matching for `routes:`: which configured rule a request's method
//! and path fall under, first match wins.
//!
//! A path pattern is compiled once, when the server starts, into one of
//! three matchers: an exact path (`/health`), a prefix (`/api/*` matches
//! `/api` and everything below it), or a glob (`*` matches within one path
//! segment, `?` one character of it, and a segment `**` any number of
//! segments). Matching allocates nothing; a glob is matched by the classic
//! greedy wildcard algorithm, within segments and over them, so its time
//! grows with the path, not exponentially with the stars.
//! This is not the httpbin endpoint parser (`routes`): a request is matched
//! here once, then its path still names an endpoint there.

use http::Method;

/// A compiled path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathPattern {
    /// The path itself.
    Exact(String),
    /// `/api/*`: the prefix `/api` and every path below it.
    Prefix(String),
    /// A glob, one entry per path segment.
    Glob(Vec<Segment>),
}

/// One segment of a compiled glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// `**`: any number of segments, none included.
    Any,
    /// One segment; `*` matches any run of its bytes, `?` one byte.
    Glob(Vec<u8>),
}

/// Why a path pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// It does not start with `/`.
    #[error("{0:?} is not allowed; expected a path starting with / such as /api/*, /users/*/orders or /health")]
    NotAbsolute(String),
    /// It has a space or a control character.
    #[error("{0:?} is not allowed; a path pattern has no spaces or control characters")]
    BadCharacter(String),
}

impl PathPattern {
    /// Compiles a pattern, or says what is allowed.
    pub fn compile(text: &str) -> Result<PathPattern, PatternError> {
        let Some(body) = text.strip_prefix('/') else {
            return Err(PatternError::NotAbsolute(text.to_string()));
        };
        if text.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err(PatternError::BadCharacter(text.to_string()));
        }
        if !text.contains(['*', '?']) {
            return Ok(PathPattern::Exact(text.to_string()));
        }
        if let Some(prefix) = text.strip_suffix("/*") {
            if !prefix.contains(['*', '?']) {
                return Ok(PathPattern::Prefix(prefix.to_string()));
            }
        }
        let segments = body
            .split('/')
            .map(|seg| match seg {
                "**" => Segment::Any,
                _ => Segment::Glob(seg.as_bytes().to_vec()),
            })
            .collect();
        Ok(PathPattern::Glob(segments))
    }

    /// Whether `path` (without its query) matches.
    pub fn matches(&self, path: &str) -> bool {
        match self {
            PathPattern::Exact(p) => p == path,
            PathPattern::Prefix(p) => path
                .strip_prefix(p.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
            PathPattern::Glob(segments) => path
                .strip_prefix('/')
                .is_some_and(|body| glob_match(segments, body)),
        }
    }
}

/// The segment of `body` starting at byte `start`, and where the next
/// one starts (`None` after the last).
fn segment(body: &str, start: usize) -> (&str, Option<usize>) {
    let rest = &body[start..];
    match rest.find('/') {
        Some(i) => (&rest[..i], Some(start + i + 1)),
        None => (rest, None),
    }
}

/// Matches segments greedily; on a mismatch, the last `**` takes one more
/// segment (the classic wildcard algorithm, over segments).
fn glob_match(pattern: &[Segment], body: &str) -> bool {
    let (mut p, mut at) = (0, Some(0));
    let mut retry: Option<(usize, Option<usize>)> = None;
    loop {
        let Some(start) = at else {
            return pattern[p..].iter().all(|s| *s == Segment::Any);
        };
        let (seg, next) = segment(body, start);
        match pattern.get(p) {
            Some(Segment::Any) => {
                retry = Some((p + 1, at));
                p += 1;
                continue;
            }
            Some(Segment::Glob(glob)) if segment_match(glob, seg.as_bytes()) => {
                p += 1;
                at = next;
                continue;
            }
            _ => {}
        }
        let Some((after_any, Some(taken))) = retry else {
            return false;
        };
        let (_, next) = segment(body, taken);
        retry = Some((after_any, next));
        (p, at) = (after_any, next);
    }
}

/// Matches one segment: `*` any run of bytes, `?` one byte (the classic
/// greedy algorithm: on a mismatch, the last `*` takes one more byte).
fn segment_match(glob: &[u8], seg: &[u8]) -> bool {
    let (mut p, mut s) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while s < seg.len() {
        match glob.get(p) {
            Some(b'*') => {
                star = Some((p, s));
                p += 1;
            }
            Some(&b) if b == b'?' || b == seg[s] => {
                p += 1;
                s += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    star = Some((sp, ss + 1));
                    (p, s) = (sp + 1, ss + 1);
                }
                None => return false,
            },
        }
    }
    glob[p..].iter().all(|b| *b == b'*')
}

/// One compiled rule: methods (empty: any) and a path pattern.
#[derive(Debug, Clone)]
pub(crate) struct Matcher {
    methods: Vec<Method>,
    path: PathPattern,
}

/// The compiled rules of `routes:`, in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Router {
    rules: Vec<Matcher>,
}

impl Router {
    /// Compiles the rules (patterns were checked when the configuration
    /// was validated; a pattern that fails here matches nothing).
    pub(crate) fn new<'a>(rules: impl IntoIterator<Item = (&'a [Method], &'a str)>) -> Self {
        let rules = rules
            .into_iter()
            .map(|(methods, path)| Matcher {
                methods: methods.to_vec(),
                path: PathPattern::compile(path)
                    .unwrap_or_else(|_| PathPattern::Exact(String::new())),
            })
            .collect();
        Router { rules }
    }

    /// The index of the first rule that matches, if any.
    pub(crate) fn find(&self, method: &Method, path: &str) -> Option<usize> {
        self.rules.iter().position(|rule| {
            (rule.methods.is_empty() || rule.methods.contains(method)) && rule.path.matches(path)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, path: &str) -> bool {
        PathPattern::compile(pattern).unwrap().matches(path)
    }

    #[test]
    fn exact_prefix_and_glob() {
        assert!(m("/health", "/health"));
        assert!(!m("/health", "/health/"));
        assert!(m("/api/*", "/api"));
        assert!(m("/api/*", "/api/users/7"));
        assert!(!m("/api/*", "/apiary"));
        assert!(m("/users/*/orders", "/users/42/orders"));
        assert!(!m("/users/*/orders", "/users/4/2/orders"));
        assert!(m("/files/**/*.png", "/files/a/b/c.png"));
        assert!(m("/files/**/*.png", "/files/c.png"));
        assert!(!m("/files/**/*.png", "/files/a/c.txt"));
        assert!(m("/**/end", "/a/b/end"));
        assert!(m("/a*c?e", "/abbbcde"));
        assert!(m("/v?/x", "/v2/x"));
        assert!(!m("/v?/x", "/v/x"));
        assert!(m("/*", "/anything"));
        assert!(m("/*", "/a/b"), "/* is the prefix of every path");
        assert!(m("/*/x", "/a/x"));
        assert!(!m("/*/x", "/a/b/x"));
        assert_eq!(
            PathPattern::compile("/api/*").unwrap(),
            PathPattern::Prefix("/api".into())
        );
    }

    #[test]
    fn bad_patterns_say_what_is_allowed() {
        let err = PathPattern::compile("api").unwrap_err().to_string();
        assert!(err.contains("starting with /"), "{err}");
        assert!(PathPattern::compile("/a b").is_err());
    }

    #[test]
    fn first_matching_rule_wins_and_methods_filter() {
        let get = [Method::GET];
        let any: [Method; 0] = [];
        let router = Router::new([
            (&get[..], "/api/*"),
            (&any[..], "/api/*"),
            (&any[..], "/**"),
        ]);
        assert_eq!(router.find(&Method::GET, "/api/x"), Some(0));
        assert_eq!(router.find(&Method::POST, "/api/x"), Some(1));
        assert_eq!(router.find(&Method::POST, "/other/deep"), Some(2));
        assert_eq!(Router::default().find(&Method::GET, "/"), None);
    }

    #[test]
    fn many_stars_stay_fast() {
        let pattern = PathPattern::compile("/**/*a*a*a*a*b/**/x/**/y").unwrap();
        let path = format!("/{}", "a/".repeat(2000) + &"a".repeat(2000));
        let start = std::time::Instant::now();
        assert!(!pattern.matches(&path));
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }
}
