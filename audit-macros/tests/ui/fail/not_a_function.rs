use audit_core::audited;

#[audited("A")]
struct Booking;

#[audited("A")]
const fn constant() -> u32 {
    1
}

trait Repository {
    #[audited("A")]
    fn save(&self);
}

fn main() {
    let _ = Booking;
    let _ = constant();
}
