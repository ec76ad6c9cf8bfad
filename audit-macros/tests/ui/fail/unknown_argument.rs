use audit_core::audited;

struct Request {
    id: u64,
}

#[audited("A", entity_id = req.id)]
fn entity_id_names_a_missing_argument(request: Request) -> u64 {
    request.id
}

#[audited("A", description = "booking {booking_id}")]
fn description_names_a_missing_argument(id: u64) -> u64 {
    id
}

#[audited("A", actor = user)]
fn actor_names_a_missing_argument() {}

#[audited("A", metadata(seats = seats))]
fn metadata_names_a_missing_argument(count: u32) -> u32 {
    count
}

#[audited("A", entity_id = self.id)]
fn self_in_a_free_function() {}

fn main() {
    entity_id_names_a_missing_argument(Request { id: 1 });
    description_names_a_missing_argument(1);
    actor_names_a_missing_argument();
    metadata_names_a_missing_argument(1);
    self_in_a_free_function();
}
