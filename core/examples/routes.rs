//! Prints the route table (`api::routes::ROUTES`) as JSON
//! (`cargo run -p parityrail-core --example routes`): the end-to-end security suite takes its
//! list of routes from here, so a route added to the declaration cannot escape the suite.

fn main() {
    match serde_json::to_string_pretty(parityrail_core::api::routes::ROUTES) {
        Ok(json) => println!("{json}"),
        Err(e) => {
            eprintln!("routes: {e}");
            std::process::exit(1);
        }
    }
}
