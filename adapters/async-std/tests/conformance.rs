//! The shared conformance suite on async-std.

use std::future::Future;

use rocketwire_async_std::AsyncStdRuntime;
use rocketwire_driver::test_support::{AsyncHarness, Executor};

struct AsyncStd;

impl Executor for AsyncStd {
    fn block_on<F: Future>(future: F) -> F::Output {
        async_std::task::block_on(future)
    }
}

rocketwire_driver::conformance_tests!(AsyncHarness<AsyncStdRuntime, AsyncStd>);
