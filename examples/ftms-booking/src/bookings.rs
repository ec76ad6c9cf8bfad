//! The booking domain. Its functions know nothing about HTTP or auditing beyond one
//! attribute each: the actor, IP and request id come from the request's audit context.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use audit::audited;
use serde::{Deserialize, Serialize};

/// A booking request.
#[derive(Debug, Clone, Deserialize)]
pub struct NewBooking {
    /// The flight number (`FT100`).
    pub flight: String,
    /// How many seats (1 to 9).
    pub seats: u32,
}

/// A confirmed booking.
#[derive(Debug, Clone, Serialize)]
pub struct Booking {
    /// The booking id (`b-1`).
    pub id: String,
    /// The flight.
    pub flight: String,
    /// Seats booked.
    pub seats: u32,
    /// The user who booked.
    pub owner: String,
}

/// Why a booking failed. Its `Display` text is the audit event's reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BookingError {
    /// No such flight.
    #[error("unknown flight {0}")]
    UnknownFlight(String),
    /// Zero seats, or more than one booking may hold.
    #[error("invalid seat count {0} (1 to 9)")]
    InvalidSeats(u32),
    /// Not enough seats left.
    #[error("flight {flight} has only {available} seats left")]
    SoldOut {
        /// The flight.
        flight: String,
        /// Seats still free.
        available: u32,
    },
}

/// Why a cancellation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CancelError {
    /// No such booking.
    #[error("booking {0} not found")]
    NotFound(String),
}

struct Inner {
    seats_left: HashMap<String, u32>,
    bookings: BTreeMap<String, Booking>,
    next_id: u64,
}

/// Flights and bookings (in memory).
pub struct Bookings {
    inner: Mutex<Inner>,
}

impl Bookings {
    /// FT100 with 10 seats, FT200 with 2.
    pub fn demo() -> Self {
        Self {
            inner: Mutex::new(Inner {
                seats_left: HashMap::from([("FT100".into(), 10), ("FT200".into(), 2)]),
                bookings: BTreeMap::new(),
                next_id: 1,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Books seats for `owner`.
    #[audited(
        "FTMS_BOOKING_CREATED",
        entity_type = "booking",
        entity_id = |booking| booking.id.clone(),
        metadata(flight = request.flight.clone(), seats = request.seats)
    )]
    pub fn create(&self, owner: &str, request: NewBooking) -> Result<Booking, BookingError> {
        if !(1..=9).contains(&request.seats) {
            return Err(BookingError::InvalidSeats(request.seats));
        }
        let mut inner = self.lock();
        let Some(left) = inner.seats_left.get_mut(&request.flight) else {
            return Err(BookingError::UnknownFlight(request.flight));
        };
        if *left < request.seats {
            return Err(BookingError::SoldOut {
                available: *left,
                flight: request.flight,
            });
        }
        *left -= request.seats;
        let id = format!("b-{}", inner.next_id);
        inner.next_id += 1;
        let booking = Booking {
            id: id.clone(),
            flight: request.flight,
            seats: request.seats,
            owner: owner.to_owned(),
        };
        inner.bookings.insert(id, booking.clone());
        Ok(booking)
    }

    /// The booking with this id.
    pub fn get(&self, id: &str) -> Option<Booking> {
        self.lock().bookings.get(id).cloned()
    }

    /// The bookings of `owner` (all bookings for `None`).
    pub fn list(&self, owner: Option<&str>) -> Vec<Booking> {
        self.lock()
            .bookings
            .values()
            .filter(|b| owner.is_none_or(|o| b.owner == o))
            .cloned()
            .collect()
    }

    /// Cancels a booking and frees its seats.
    #[audited("FTMS_BOOKING_CANCELLED", entity_type = "booking", entity_id = id)]
    pub fn cancel(&self, id: &str) -> Result<Booking, CancelError> {
        let mut inner = self.lock();
        let booking = inner
            .bookings
            .remove(id)
            .ok_or_else(|| CancelError::NotFound(id.to_owned()))?;
        if let Some(left) = inner.seats_left.get_mut(&booking.flight) {
            *left += booking.seats;
        }
        Ok(booking)
    }
}
