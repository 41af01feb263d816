//! What the domain's engine tests share: running an engine's future to its end on a
//! single-threaded runtime (the engines are `!Send`, as on Workers).

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
        .block_on(f)
}
