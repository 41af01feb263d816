//! The HTTP contract of SPEC §14, independent of the Workers runtime: the one route declaration
//! (`routes`), the error every surface renders (`error`), and how D1 failures are classified
//! (`d1`). Pure Rust, tested natively; `edge` builds the router and the responses from it.

pub mod bodies;
pub mod coordinator;
pub mod credential;
pub mod d1;
pub mod error;
pub mod path;
pub mod query;
pub mod routes;
pub mod views;
