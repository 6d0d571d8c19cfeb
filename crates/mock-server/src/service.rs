//! The request handler: route, admit, delay, answer, and count each step.
//!
//! The route is matched once per request (`routes:`; unmatched requests
//! get the top level's settings), and the run-time settings are loaded
//! once for the synchronous path, and again when service starts, so a
//! change applies to every request admitted after it. `/__admin/...` goes
//! to the control API (`admin`), uncounted.
//!
//! A counted request goes: received, then (if every slot is taken) queued,
//! then in service, then one final outcome. Its delay is fixed when service
//! starts: a draw from the model (or the `/delay` parameter), plus
//! `per_in_service` for every *other* request in service at that moment.
//! Faults are drawn at the same moment and take effect when the delay ends,
//! so a faulty request holds its slot as long as a healthy one. A request
//! body is read once service starts, within `header_timeout` (408 after).
//!
//! A request is counted as received when hyper hands it over, and its end
//! when hyper polls its future: hyper drops the future unpolled when it
//! reads the client's FIN first (HTTP/1 `half_close` is off), and then the
//! request counts as cancelled, never as served without an answer.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::header::CONNECTION;
use http::{HeaderValue, Request, Response, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::body::{Body, Incoming};
use rand::rngs::SmallRng;
use tokio::time::Instant;

use crate::admin;
use crate::admission::{Refusal, Slot};
use crate::blocking::Stopped;
use crate::body::ResponseBody;
use crate::config::{Mode, Overflow};
use crate::connection::{Activity, ConnState, MAX_TIMEOUT};
use crate::faults::{request_rng, Fault, FaultRates};
use crate::live::{Live, Plan, UnitPolicy};
use crate::responses;
use crate::routes::{self, Route};
use crate::server::Shared;
use crate::stats::{Arrival, Outcome, RequestTracker, Unsent};

/// No request is held longer than this, whatever the configuration.
const MAX_DELAY: Duration = Duration::from_secs(365 * 86_400);

/// The error that makes hyper drop a connection without an answer.
#[derive(Debug, thiserror::Error)]
#[error("connection closed without an answer on purpose")]
pub struct Dropped;

/// The answer to one request, or `Dropped` to close its connection.
type Answer = Result<Response<ResponseBody>, Dropped>;

/// Handles one request on connection `conn`.
///
/// A request that needs no waiting (no delay, no request body, a slot free
/// now, async mode) is answered synchronously, and hyper gets a small ready
/// future; every other request gets its own boxed future. This keeps the
/// future hyper stores and moves per request small: the full async path,
/// with admission, body draining and the delay inline, is over a kilobyte,
/// and copying it around cost more than the rest of the handler.
///
/// Either way the request is counted as received here, and its end is
/// counted once hyper polls the future: hyper drops a future unpolled when
/// it reads the client's FIN first, and such a request counts as cancelled,
/// not as served (see [`Settle`]).
pub(crate) fn handle(
    shared: Arc<Shared>,
    conn: Arc<ConnState>,
    req: Request<Incoming>,
) -> Handling {
    let activity = conn.begin(req.version() == http::Version::HTTP_2);
    if req.uri().path().starts_with(admin::PREFIX) {
        return Handling::Waiting(Box::pin(async move {
            let answer = admin::handle(&shared, &conn, req).await;
            with_activity(Ok(answer), activity)
        }));
    }
    let route = routes::route(req.uri().path(), shared.limits());
    let rule = match &route {
        Ok(r) if r.is_reserved() => None,
        _ => shared.runtime.layout.find(req.method(), req.uri().path()),
    };
    let (answer, owed) = match route {
        Ok(Route::Stats) => (Ok(responses::stats(&shared.runtime.snapshot())), None),
        Ok(Route::Metrics) => (Ok(responses::metrics(&shared.runtime.snapshot())), None),
        Err(bad) => {
            let tracker = RequestTracker::arrive(shared.runtime.layout.counters(rule));
            let response = responses::text(StatusCode::BAD_REQUEST, bad.to_string());
            let unsent = tracker.answer_later(response.status().as_u16());
            (Ok(response), Some(Owed::Answer(unsent)))
        }
        Ok(route) => {
            let live = shared.runtime.load();
            match immediate_slot(&shared, &live, rule, &route, &req) {
                Some(slot) => answer_now(&shared, &live, &conn, rule, slot, route, req),
                None => {
                    drop(live);
                    let arrival = shared.runtime.layout.counters(rule).arrive();
                    let mut settle = Settle {
                        shared,
                        rule,
                        owed: Some(Owed::Arrival(arrival)),
                    };
                    return Handling::Waiting(Box::pin(async move {
                        let Some(Owed::Arrival(arrival)) = settle.owed.take() else {
                            unreachable!("set just above");
                        };
                        let shared = &*settle.shared;
                        let counters = shared.runtime.layout.counters(rule);
                        let mut tracker = RequestTracker::follow(counters, arrival);
                        let answer = counted(shared, &conn, &mut tracker, rule, route, req).await;
                        with_activity(answer, activity)
                    }));
                }
            }
        }
    };
    let settle = Settle { shared, rule, owed };
    Handling::Ready(Some((with_activity(answer, activity), settle)))
}

/// Answers an admitted request (it holds `slot`) that needs no waiting.
/// An answer is counted when hyper takes it (the returned [`Owed`]); a
/// reset is counted at once.
fn answer_now(
    shared: &Shared,
    live: &Live,
    conn: &ConnState,
    rule: Option<usize>,
    slot: Slot,
    route: Route,
    req: Request<Incoming>,
) -> (Answer, Option<Owed>) {
    let mut tracker = RequestTracker::arrive(shared.runtime.layout.counters(rule));
    tracker.enter_service(slot);
    let (parts, _) = req.into_parts();
    let plan = live.plan(rule);
    let mut rng = request_rng(shared.seed, tracker.sequence);
    let fault = draw_fault(shared, plan, rule, &mut rng);
    match respond(
        plan,
        conn,
        &mut tracker,
        route,
        Some(&parts),
        fault,
        &mut rng,
    ) {
        Ok(response) => {
            let unsent = tracker.answer_later(response.status().as_u16());
            (Ok(response), Some(Owed::Answer(unsent)))
        }
        Err(dropped) => (Err(dropped), None),
    }
}

/// The fault of one request: the random draw, overridden by
/// `reset_every`/`error_every` on every Nth request of its route.
fn draw_fault(shared: &Shared, plan: &Plan, rule: Option<usize>, rng: &mut SmallRng) -> Fault {
    let b = &plan.behaviour;
    let rates = FaultRates {
        error_rate: b.error_rate,
        reset_rate: b.reset_rate,
    };
    let drawn = rates.draw(rng);
    if b.reset_every.is_none() && b.error_every.is_none() {
        return drawn;
    }
    let n = shared.runtime.layout.nth(rule);
    let every = |k: Option<std::num::NonZeroU64>| k.is_some_and(|k| n % k.get() == 0);
    if every(b.reset_every) {
        Fault::Reset
    } else if every(b.error_every) {
        Fault::Error
    } else {
        drawn
    }
}

/// The future of one request's answer: ready at once, or still waiting.
pub(crate) enum Handling {
    /// Answered synchronously; `None` once taken.
    Ready(Option<(Answer, Settle)>),
    /// Queued, delayed or reading a body.
    Waiting(Pin<Box<dyn Future<Output = Answer> + Send>>),
}

impl Future for Handling {
    type Output = Answer;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Answer> {
        match self.get_mut() {
            Handling::Ready(ready) => match ready.take() {
                Some((answer, settle)) => {
                    settle.taken();
                    Poll::Ready(answer)
                }
                None => Poll::Pending, // Polled after completion: never.
            },
            Handling::Waiting(future) => future.as_mut().poll(cx),
        }
    }
}

/// What a request's future still has to count when hyper first polls it.
#[derive(Debug)]
enum Owed {
    /// The request was counted as received; its handler has not started.
    Arrival(Arrival),
    /// The request was answered; the answer is not taken yet.
    Answer(Unsent),
}

/// Settles a request's count when hyper first polls its future, or counts
/// the request as cancelled if hyper drops the future unpolled (it does
/// when it reads the client's FIN before taking the answer: see the
/// README, "Timeouts, precisely"). It holds the `Arc` that hyper's service
/// call handed over, so it costs no extra reference count.
#[derive(Debug)]
pub(crate) struct Settle {
    shared: Arc<Shared>,
    /// The request's route, for its counters.
    rule: Option<usize>,
    owed: Option<Owed>,
}

impl Settle {
    /// Counts an answer taken by hyper.
    fn taken(mut self) {
        if let Some(Owed::Answer(unsent)) = self.owed.take() {
            unsent.sent(self.shared.runtime.layout.counters(self.rule));
        }
    }
}

impl Drop for Settle {
    fn drop(&mut self) {
        let counters = self.shared.runtime.layout.counters(self.rule);
        match self.owed.take() {
            Some(Owed::Arrival(arrival)) => arrival.cancel(counters),
            Some(Owed::Answer(unsent)) => unsent.abandon(counters),
            None => {}
        }
    }
}

/// Keeps the connection busy until hyper is done with the answer's body.
fn with_activity(answer: Answer, activity: Activity) -> Answer {
    answer.map(|response| response.map(|body| body.with_activity(activity)))
}

/// A slot for a request that can be answered without waiting: async mode,
/// a delay that is zero whatever the draw, no request body, and a slot free
/// now in its unit. `None` sends the request down the full path (which
/// does the same things in the same order, waiting where needed).
fn immediate_slot(
    shared: &Shared,
    live: &Live,
    rule: Option<usize>,
    route: &Route,
    req: &Request<Incoming>,
) -> Option<Slot> {
    let plan = live.plan(rule);
    let no_delay = match route {
        Route::Delay(d) => d.is_zero() && plan.behaviour.per_in_service.is_zero(),
        _ => plan.no_delay,
    };
    if !no_delay || shared.pool.is_some() || !req.body().is_end_stream() {
        return None;
    }
    shared.runtime.layout.unit(plan).admission.try_now()
}

/// Handles a request that is counted in the statistics.
async fn counted(
    shared: &Shared,
    conn: &ConnState,
    tracker: &mut RequestTracker<'_>,
    rule: Option<usize>,
    route: Route,
    req: Request<Incoming>,
) -> Answer {
    let (parts, body) = req.into_parts();
    let version = parts.version;
    // The head holds its connection's first read buffer (hyper's 8 KiB)
    // for as long as it lives: kept through the wait only by the answers
    // that echo it, so a waiting request holds one buffer, not two.
    let parts = route.echoes().then_some(parts);
    if body.size_hint().lower() > shared.settings.max_request_body {
        let response = closing(too_large(shared), version);
        return Ok(served(tracker, response));
    }
    let unit = shared.runtime.load().plan(rule).unit;
    let admitted = shared.runtime.layout.units[unit]
        .admission
        .admit(tracker)
        .await;
    let in_service_now = match admitted {
        Ok(n) => n,
        Err(refusal) => {
            let live = shared.runtime.load();
            let policy = live.units.get(unit).copied().unwrap_or(live.units[0]);
            return match refusal {
                Refusal::QueueFull => overflow(policy, conn, tracker),
                Refusal::TimedOut => {
                    let response =
                        responses::refusal(StatusCode::SERVICE_UNAVAILABLE, policy.retry_after);
                    tracker.finish(Outcome::TimedOut(response.status().as_u16()));
                    Ok(response)
                }
            };
        }
    };
    let request = Kept {
        version,
        parts,
        body,
    };
    in_service(
        shared,
        conn,
        tracker,
        rule,
        route,
        request,
        in_service_now.saturating_sub(1),
    )
    .await
}

/// What a waiting request keeps of itself: its version, its head only if
/// its answer echoes it, and its body.
struct Kept {
    version: Version,
    parts: Option<http::request::Parts>,
    body: Incoming,
}

/// Serves an admitted request (the tracker holds its slot): delay, fault,
/// answer, with the settings in force when its service starts. `others`
/// is the number of other requests in service in its unit.
async fn in_service(
    shared: &Shared,
    conn: &ConnState,
    tracker: &mut RequestTracker<'_>,
    rule: Option<usize>,
    route: Route,
    request: Kept,
    others: u64,
) -> Answer {
    let started = Instant::now();
    let live = shared.runtime.load_full();
    let plan = live.plan(rule);
    let mut rng = request_rng(shared.seed, tracker.sequence);
    let base = match route {
        Route::Delay(d) => d,
        _ => plan.behaviour.delay.sample(&mut rng),
    };
    let until = deadline(started, base, plan.behaviour.per_in_service, others);
    let fault = draw_fault(shared, plan, rule, &mut rng);
    if let Err(response) = read_body(shared, request.body).await {
        return Ok(served(tracker, closing(response, request.version)));
    }
    if wait(shared, tracker, until).await.is_err() {
        tracker.finish(Outcome::Dropped);
        return Err(Dropped);
    }
    let parts = request.parts.as_ref();
    respond(plan, conn, tracker, route, parts, fault, &mut rng).map(|r| served(tracker, r))
}

/// Ends an admitted request once its delay is over: the fault drawn for
/// it, or the route's answer. A reset is counted here (as dropped); an
/// answer is left for the caller to count.
fn respond(
    plan: &Plan,
    conn: &ConnState,
    tracker: &mut RequestTracker<'_>,
    route: Route,
    parts: Option<&http::request::Parts>,
    fault: Fault,
    rng: &mut SmallRng,
) -> Answer {
    match fault {
        Fault::Reset => {
            tracker.finish(Outcome::Dropped);
            conn.reset();
            Err(Dropped)
        }
        Fault::Error => Ok(responses::fault(plan.behaviour.error_status)),
        Fault::None => Ok(answer(plan, conn, route, parts, rng)),
    }
}

/// The answer for a route once its delay is over, its body paced as the
/// route says.
fn answer(
    plan: &Plan,
    conn: &ConnState,
    route: Route,
    parts: Option<&http::request::Parts>,
    rng: &mut SmallRng,
) -> Response<ResponseBody> {
    let b = &plan.behaviour;
    let response = match (route, parts) {
        (Route::Status(choice), _) => responses::empty(choice.pick(rng)),
        (Route::Bytes(n), _) => responses::bytes(n),
        // The head is kept for every route that echoes it (`Route::echoes`).
        (Route::Get | Route::Delay(_), Some(parts)) => responses::echo(parts, conn.peer),
        (Route::Get | Route::Delay(_), None)
        | (Route::Default | Route::Stats | Route::Metrics, _) => {
            responses::configured(b.status.pick(rng), &b.content_type, b.body_size)
        }
    };
    if b.pace.is_plain() {
        return response;
    }
    response.map(|body| body.paced(b.pace))
}

/// Applies the overflow policy to a request that found the queue full.
fn overflow(policy: UnitPolicy, conn: &ConnState, tracker: &mut RequestTracker<'_>) -> Answer {
    match policy.overflow {
        Overflow::Reject => {
            let response = responses::refusal(policy.reject_status, policy.retry_after);
            tracker.finish(Outcome::Rejected(response.status().as_u16()));
            Ok(response)
        }
        Overflow::Close => {
            tracker.finish(Outcome::Dropped);
            conn.close();
            Err(Dropped)
        }
        Overflow::Reset => {
            tracker.finish(Outcome::Dropped);
            conn.reset();
            Err(Dropped)
        }
    }
}

/// Waits until the deadline: the precise timer in async mode; in blocking
/// mode a pool thread, which holds the slot meanwhile. A deadline already
/// passed (a zero delay) costs no timer at all; tokio's would round it up
/// to the next millisecond. How late the wait ended is recorded.
async fn wait(
    shared: &Shared,
    tracker: &mut RequestTracker<'_>,
    until: Instant,
) -> Result<(), Stopped> {
    match (&shared.pool, shared.settings.mode) {
        (Some(pool), Mode::Blocking) => {
            let slot = pool.run(until.into_std(), tracker.take_slot()).await?;
            if let Some(slot) = slot {
                tracker.put_slot(slot);
            }
        }
        _ if until <= Instant::now() => return Ok(()),
        _ => shared.timer.sleep_until(until).await,
    }
    shared
        .runtime
        .layout
        .total
        .record_overshoot(until.elapsed());
    Ok(())
}

/// When service ends: `base` plus `per_other` for each other request in
/// service, capped at one year.
fn deadline(start: Instant, base: Duration, per_other: Duration, others: u64) -> Instant {
    let others = u32::try_from(others).unwrap_or(u32::MAX);
    let total = base
        .saturating_add(per_other.saturating_mul(others))
        .min(MAX_DELAY);
    start.checked_add(total).unwrap_or(start)
}

/// Reads and discards the request body, for at most `header_timeout`; the
/// error answer if the body is too large (413), malformed (400) or does not
/// arrive in time (408). A body left unread makes hyper close the
/// connection after the answer (HTTP/1) or reset the stream (HTTP/2).
async fn read_body(shared: &Shared, body: Incoming) -> Result<(), Response<ResponseBody>> {
    if body.is_end_stream() {
        return Ok(()); // No timer for a request without a body.
    }
    let s = &shared.settings;
    let limit = s.header_timeout.min(MAX_TIMEOUT);
    match tokio::time::timeout(limit, drain(body, s.max_request_body)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(StatusCode::PAYLOAD_TOO_LARGE)) => Err(too_large(shared)),
        Ok(Err(status)) => Err(responses::text(status, "could not read the request body\n")),
        Err(_elapsed) => Err(responses::text(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within header_timeout ({:?})\n",
                s.header_timeout
            ),
        )),
    }
}

/// Adds `Connection: close` to an HTTP/1 answer sent with the request
/// body unread: hyper closes such a connection after the answer, and says
/// so only if told.
fn closing(mut response: Response<ResponseBody>, version: Version) -> Response<ResponseBody> {
    if version < Version::HTTP_2 {
        let close = HeaderValue::from_static("close");
        response.headers_mut().insert(CONNECTION, close);
    }
    response
}

/// Reads and discards the request body, failing once it exceeds `limit`.
async fn drain(mut body: Incoming, limit: u64) -> Result<(), StatusCode> {
    let mut seen = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| StatusCode::BAD_REQUEST)?;
        if let Some(data) = frame.data_ref() {
            seen = seen.saturating_add(data.len() as u64);
            if seen > limit {
                return Err(StatusCode::PAYLOAD_TOO_LARGE);
            }
        }
    }
    Ok(())
}

fn too_large(shared: &Shared) -> Response<ResponseBody> {
    let limit = shared.settings.max_request_body;
    responses::text(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the request body is larger than max_request_body ({limit} bytes)\n"),
    )
}

/// Counts a response as served and returns it.
fn served(
    tracker: &mut RequestTracker<'_>,
    response: Response<ResponseBody>,
) -> Response<ResponseBody> {
    tracker.finish(Outcome::Served(response.status().as_u16()));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_adds_the_load_term_and_never_overflows() {
        let start = Instant::now();
        let ms = Duration::from_millis;
        assert_eq!(deadline(start, ms(10), ms(2), 0), start + ms(10));
        assert_eq!(deadline(start, ms(10), ms(2), 5), start + ms(20));
        let far = deadline(start, Duration::MAX, Duration::MAX, u64::MAX);
        assert_eq!(far, start + MAX_DELAY);
    }
}
