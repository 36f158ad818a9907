//! Exponential reconnect backoff: rumqttc retries at once after an error, so the driver sleeps
//! [`Backoff::next_delay`] between attempts and resets after a successful connection.

use std::time::Duration;

/// The first delay after a failure.
const INITIAL: Duration = Duration::from_millis(100);

/// Doubling delays from 100 ms up to a maximum.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(max: Duration) -> Self {
        Backoff { next: INITIAL.min(max), max }
    }

    /// The delay before the next attempt; each call doubles the following one.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    /// After a successful connection, start again from the first delay.
    pub fn reset(&mut self) {
        self.next = INITIAL.min(self.max);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_maximum_and_reset() {
        let mut b = Backoff::new(Duration::from_millis(500));
        let delays: Vec<_> = (0..5).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 500, 500]);
        b.reset();
        assert_eq!(b.next_delay(), INITIAL);
        assert_eq!(Backoff::new(Duration::from_millis(10)).next_delay(), Duration::from_millis(10));
    }
}
