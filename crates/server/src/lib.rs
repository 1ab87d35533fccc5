//! courier-server
