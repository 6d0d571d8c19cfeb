//! Fault injection and the per-request random generator behind every draw.
//!
//! Each request gets its own generator, seeded from the run's seed and the
//! request's arrival number, so no lock is shared between requests and a
//! seeded run gives request number *n* the same delay, fault and weighted
//! status every time.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// A generator for request number `sequence` of a run seeded with `seed`.
pub fn request_rng(seed: u64, sequence: u64) -> SmallRng {
    // The golden-ratio step spreads consecutive numbers over the seed space.
    SmallRng::seed_from_u64(seed ^ sequence.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// What goes wrong with a request, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer normally.
    None,
    /// Answer with the configured error status.
    Error,
    /// Reset the connection instead of answering.
    Reset,
}

/// The configured fault rates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultRates {
    /// Fraction of requests answered with the error status.
    pub error_rate: f64,
    /// Fraction of requests whose connection is reset.
    pub reset_rate: f64,
}

impl FaultRates {
    /// Draws the fault for one request. The reset draw comes first, then the
    /// error draw among the requests that are not reset, so each rate is the
    /// fraction of all requests when the two add up to at most 1.
    pub fn draw<R: Rng + ?Sized>(&self, rng: &mut R) -> Fault {
        let reset: f64 = rng.gen();
        let error: f64 = rng.gen();
        if reset < self.reset_rate {
            Fault::Reset
        } else if error * (1.0 - self.reset_rate) < self.error_rate {
            Fault::Error
        } else {
            Fault::None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(rates: FaultRates, fault: Fault) -> usize {
        (0..20_000)
            .filter(|n| rates.draw(&mut request_rng(11, *n)) == fault)
            .count()
    }

    #[test]
    fn rates_are_fractions_of_all_requests() {
        let rates = FaultRates {
            error_rate: 0.2,
            reset_rate: 0.1,
        };
        let errors = count(rates, Fault::Error);
        let resets = count(rates, Fault::Reset);
        assert!((3600..4400).contains(&errors), "{errors}");
        assert!((1700..2300).contains(&resets), "{resets}");
    }

    #[test]
    fn zero_and_one_are_exact() {
        let none = FaultRates {
            error_rate: 0.0,
            reset_rate: 0.0,
        };
        assert_eq!(count(none, Fault::None), 20_000);
        let all = FaultRates {
            error_rate: 1.0,
            reset_rate: 0.0,
        };
        assert_eq!(count(all, Fault::Error), 20_000);
    }

    #[test]
    fn same_seed_same_draws() {
        let a: Vec<u64> = (0..10).map(|n| request_rng(5, n).gen()).collect();
        let b: Vec<u64> = (0..10).map(|n| request_rng(5, n).gen()).collect();
        assert_eq!(a, b);
        assert_ne!(a[0], a[1]);
    }
}
