//! courier-socket
