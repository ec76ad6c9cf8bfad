//! The README's first example: one dependency, three calls, and the booking is in the
//! tamper-evident log in `./audit.db`.

#[audit::audited("FTMS_BOOKING_CREATED", entity_type = "booking", entity_id = |id| id)]
fn create_booking(user: &str, seats: u32) -> Result<String, String> {
    match seats {
        0 => Err(format!("{user} asked for no seats")),
        _ => Ok(format!("b-{user}-{seats}")),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _audit = audit::init(audit::sqlite("audit.db"))?; // drains into the file on exit
    create_booking("alice", 2)?; // recorded: success, entity booking/b-alice-2
    Ok(())
}
