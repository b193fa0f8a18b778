//! Messages: properties, system flags, stored-message decoding, batches, ids and compression.
//! (Skeleton: to be completed by the message work.)
