//! JSON header (serialize type 0). (Skeleton.)
