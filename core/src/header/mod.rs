//! Typed custom headers, flattened to and from a command's `ext_fields`.
//! (Skeleton: to be completed by the header work.)
