//! Support code for rocketwire tests.
