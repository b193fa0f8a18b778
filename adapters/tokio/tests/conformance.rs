//! The shared conformance suite on tokio.

use std::future::Future;
use std::sync::OnceLock;

use rocketwire_driver::test_support::{AsyncHarness, Executor};
use rocketwire_tokio::TokioRuntime;

struct Tokio;

impl Executor for Tokio {
    fn block_on<F: Future>(future: F) -> F::Output {
        static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
        RT.get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("tokio runtime")
        })
        .block_on(future)
    }
}

rocketwire_driver::conformance_tests!(AsyncHarness<TokioRuntime, Tokio>);
