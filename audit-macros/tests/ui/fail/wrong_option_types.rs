use audit_core::audited;

struct User;
struct NoDisplay;

#[audited("A", actor = user)]
fn actor_is_not_an_actor(user: &User) {}

#[audited("A", entity_id = id)]
fn entity_id_without_display(id: &NoDisplay) {}

#[audited("A", entity_type = booking)]
fn entity_type_not_a_literal() {}

fn main() {
    actor_is_not_an_actor(&User);
    entity_id_without_display(&NoDisplay);
    entity_type_not_a_literal();
}

#[audited("A", metadata(user = user))]
fn metadata_not_serialize(user: &User) {}

fn _more() {
    metadata_not_serialize(&User);
}
