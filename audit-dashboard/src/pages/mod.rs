//! One module per page; each gathers its data, fills a typed template and returns it.

pub(crate) mod event;
pub(crate) mod events;
pub(crate) mod export;
pub(crate) mod live;
pub(crate) mod overview;
pub(crate) mod timeline;
pub(crate) mod verify;
