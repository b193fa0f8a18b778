//! rocketwire adapter (blocking). Skeleton.
