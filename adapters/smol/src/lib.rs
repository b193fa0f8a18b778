//! rocketwire adapter (smol). Skeleton.
