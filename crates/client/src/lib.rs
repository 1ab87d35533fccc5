//! courier-client
