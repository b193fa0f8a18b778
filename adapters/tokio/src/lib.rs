//! rocketwire adapter (tokio). Skeleton.
