//! The HTTP contract of SPEC §14, independent of the Workers runtime: the routes as data
//! (`routes`) and their typed path parameters (`path`), the request bodies (`bodies`), where a
//! request carries its key (`credential`) and its query (`query`), what responses show
//! (`views`), the error every surface renders (`error`), how D1 failures are classified (`d1`),
//! and what the worker and a project's coordinator say to each other (`coordinator`). Pure
//! Rust, tested natively; the adapter binds the routes and builds the responses from it.

pub mod bodies;
pub mod coordinator;
pub mod credential;
pub mod d1;
pub mod error;
pub mod mcp;
pub mod path;
pub mod query;
pub mod routes;
pub mod views;
