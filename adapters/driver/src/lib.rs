//! rocketwire adapter (driver). Skeleton.
