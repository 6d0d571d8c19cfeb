//! The compressed histograms: `<case>.hdr`, the whole measured phase as one
//! full-precision histogram, and `<case>.hlog`, one histogram per second as
//! an HdrHistogram interval log (format 1.3). Both use HdrHistogram's
//! compressed encoding (V2 + deflate, base64, starting `HISTF`), so
//! histograms of several runs or shards can be decoded and added.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;

use super::run_json::rfc3339;
use crate::recorder::Timeline;

/// The `.hlog` format version written, as in HdrHistogram's
/// `HistogramLogWriter`.
pub const HLOG_FORMAT_VERSION: &str = "1.3";

/// The legend line of an interval log.
pub const HLOG_LEGEND: &str =
    "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"";

/// Why a histogram or an interval log could not be encoded or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistogramError {
    /// The histogram could not be serialised.
    #[error("cannot encode a histogram: {0}")]
    Encode(String),
    /// The text is not base64.
    #[error("not base64: {0}")]
    Base64(String),
    /// The bytes are not an HdrHistogram V2 histogram.
    #[error("not an HdrHistogram V2 histogram: {0}")]
    Decode(String),
    /// A line of an interval log does not parse.
    #[error("not an HdrHistogram interval log: {0}")]
    Log(String),
}

/// A histogram in HdrHistogram's compressed encoding (V2 + deflate, cookie
/// `0x1c849304`), base64: the text of an interval log's histogram field,
/// starting `HISTF`, which `HdrHistogram.decode` (Python),
/// `Histogram.fromString` (Java) and [`decode_compressed`] read.
pub fn encode_compressed(h: &Histogram<u64>) -> Result<String, HistogramError> {
    use base64::Engine as _;
    use hdrhistogram::serialization::Serializer as _;
    let mut bytes = Vec::new();
    hdrhistogram::serialization::V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        .map_err(|e| HistogramError::Encode(format!("{e:?}")))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Reads a histogram written by [`encode_compressed`] (or any HdrHistogram
/// V2 histogram, compressed or not, in base64).
pub fn decode_compressed(text: &str) -> Result<Histogram<u64>, HistogramError> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| HistogramError::Base64(e.to_string()))?;
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut &bytes[..])
        .map_err(|e| HistogramError::Decode(format!("{e:?}")))
}

/// The whole measured phase of a case as `.hdr` text: a single line, the
/// compressed base64 histogram of [`encode_compressed`].
pub fn hdr(h: &Histogram<u64>) -> Result<Vec<u8>, HistogramError> {
    let mut text = encode_compressed(h)?;
    text.push('\n');
    Ok(text.into_bytes())
}

/// Reads `.hdr` text back into the histogram.
pub fn read_hdr(text: &str) -> Result<Histogram<u64>, HistogramError> {
    decode_compressed(text)
}

/// The per-second histograms of a case as an HdrHistogram interval log
/// (`.hlog`, format 1.3): `#[StartTime]`/`#[BaseTime]` headers, the legend,
/// then one line per second `start,length,max_ms,HISTF…` with the
/// histogram compressed as [`encode_compressed`] does (values in µs),
/// readable by HdrHistogram's `HistogramLogReader` (Java, Python) and
/// `IntervalLogIterator` (Rust), and by [`read_hlog`].
pub fn hlog(timeline: &Timeline, started_at: SystemTime) -> Result<Vec<u8>, HistogramError> {
    let start = started_at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "#load-client per-second latency of successful requests, microseconds"
    );
    let _ = writeln!(out, "#[Histogram log format version {HLOG_FORMAT_VERSION}]");
    let _ = writeln!(
        out,
        "#[StartTime: {:.3} (seconds since epoch), {}]",
        start.as_secs_f64(),
        rfc3339(start.as_secs())
    );
    let _ = writeln!(
        out,
        "#[BaseTime: {:.3} (seconds since epoch)]",
        start.as_secs_f64()
    );
    let _ = writeln!(out, "{HLOG_LEGEND}");
    for (second, interval) in timeline.intervals().enumerate() {
        let h = &interval.ok;
        let _ = writeln!(
            out,
            "{second}.000,1.000,{:.3},{}",
            h.max() as f64 / 1000.0,
            encode_compressed(h)?
        );
    }
    Ok(out.into_bytes())
}

/// An interval log read back.
#[derive(Debug, Clone, PartialEq)]
pub struct IntervalLog {
    /// `#[StartTime]`: when the measured phase started, since the epoch.
    pub start_time: Option<Duration>,
    /// `#[BaseTime]`: what the interval start times count from.
    pub base_time: Option<Duration>,
    /// The intervals, in file order.
    pub intervals: Vec<LoggedInterval>,
}

/// One interval of an interval log.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedInterval {
    /// Start, relative to the base time.
    pub start: Duration,
    /// Length.
    pub length: Duration,
    /// The interval's histogram (µs).
    pub histogram: Histogram<u64>,
}

/// Reads `.hlog` bytes: the start and base times, and every interval with
/// its histogram decoded.
pub fn read_hlog(bytes: &[u8]) -> Result<IntervalLog, HistogramError> {
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    let mut log = IntervalLog {
        start_time: None,
        base_time: None,
        intervals: Vec::new(),
    };
    for entry in IntervalLogIterator::new(bytes) {
        match entry.map_err(|e| HistogramError::Log(format!("{e:?}")))? {
            LogEntry::StartTime(t) => log.start_time = Some(t),
            LogEntry::BaseTime(t) => log.base_time = Some(t),
            LogEntry::Interval(i) => log.intervals.push(LoggedInterval {
                start: i.start_timestamp(),
                length: i.duration(),
                histogram: decode_compressed(i.encoded_histogram())?,
            }),
        }
    }
    Ok(log)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_log_reads_back_with_its_counts() {
        let mut r = crate::recorder::Recorder::default();
        r.timeline.record(0, Some(1_000));
        r.timeline.record(1, Some(2_000));
        r.timeline.record(1, Some(3_000));
        for _ in 0..4 {
            r.timeline.record(1, None);
        }
        let started = UNIX_EPOCH + Duration::from_millis(1_764_000_000_250);
        let log = read_hlog(&hlog(&r.timeline, started).unwrap()).unwrap();
        assert_eq!(log.intervals.len(), 2);
        assert_eq!(log.intervals[1].start.as_secs(), 1);
        assert_eq!(log.intervals[1].length.as_secs(), 1);
        let counts: Vec<u64> = log.intervals.iter().map(|i| i.histogram.len()).collect();
        assert_eq!(counts, [1, 2]);
        let max = log.intervals[1].histogram.max();
        assert!((3_000..3_100).contains(&max), "max in µs: {max}");
        let start = Duration::from_millis(1_764_000_000_250);
        assert_eq!((log.start_time, log.base_time), (Some(start), Some(start)));
        assert!(read_hlog(b"0.000,1.000,1.0,HISTFnotbase64!\n").is_err());
    }

    /// HdrHistogram's own readers (Java and Python `HistogramLogReader`)
    /// only take compressed histograms: base64 of cookie 0x1c849304 + 0x10
    /// (V2, deflate), which always starts `HISTF`.
    #[test]
    fn interval_log_uses_the_compressed_encoding_and_the_standard_header() {
        use base64::Engine as _;
        let mut t = Timeline::default();
        t.record(0, Some(1_500));
        let text = String::from_utf8(hlog(&t, SystemTime::now()).unwrap()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "#[Histogram log format version 1.3]");
        assert!(lines[2].starts_with("#[StartTime: "), "{text}");
        assert!(lines[2].contains(" (seconds since epoch), "), "{text}");
        assert!(lines[3].starts_with("#[BaseTime: "), "{text}");
        assert_eq!(lines[4], HLOG_LEGEND);
        assert_eq!(lines.len(), 6, "{text}");
        let payload = lines[5].rsplit(',').next().unwrap();
        assert!(lines[5].starts_with("0.000,1.000,1.5"), "{text}");
        assert!(payload.starts_with("HISTF"), "{text}");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(payload)
            .unwrap();
        assert_eq!(bytes[..4], 0x1c84_9314u32.to_be_bytes());
        let back = decode_compressed(payload).unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(back.sigfig(), t.intervals().next().unwrap().ok.sigfig());
    }

    #[test]
    fn the_case_histogram_keeps_full_precision() {
        let mut h = crate::recorder::new_histogram();
        for v in [1u64, 12_345, 999_999, 3_000_000] {
            h.record(v).unwrap();
        }
        let text = String::from_utf8(hdr(&h).unwrap()).unwrap();
        assert!(text.starts_with("HISTF") && text.ends_with('\n'), "{text}");
        assert_eq!(text.lines().count(), 1);
        let back = read_hdr(&text).unwrap();
        assert_eq!(back, h);
        assert_eq!(back.sigfig(), crate::recorder::SIGNIFICANT_DIGITS);
        assert!(matches!(
            read_hdr("not base64!"),
            Err(HistogramError::Base64(_))
        ));
        assert!(matches!(read_hdr("AAAA"), Err(HistogramError::Decode(_))));
    }
}
