//! rocketwire adapter (async-std). Skeleton.
