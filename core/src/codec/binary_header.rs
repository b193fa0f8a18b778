//! ROCKETMQ binary header (serialize type 1). (Skeleton.)
