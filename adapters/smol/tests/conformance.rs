//! The shared conformance suite on smol.

use std::future::Future;

use rocketwire_driver::test_support::{AsyncHarness, Executor};
use rocketwire_smol::SmolRuntime;

struct Smol;

impl Executor for Smol {
    fn block_on<F: Future>(future: F) -> F::Output {
        smol::block_on(future)
    }
}

rocketwire_driver::conformance_tests!(AsyncHarness<SmolRuntime, Smol>);
