//! Caps on everything a server controls.
//!
//! A reply is untrusted: its fragment count, sizes and declared lengths are checked
//! against these before anything is allocated, so memory stays bounded whatever a
//! server sends.

/// Caps on server-controlled quantities. Each cap has its own error variant.
///
/// New caps may come (the struct is `#[non_exhaustive]`): start from `default()` and
/// set the fields you change.
///
/// ```
/// let mut limits = a2s_query::Limits::default();
/// limits.max_fragments = 32;
/// assert_eq!(limits.max_challenge_rounds, 5);
/// let client = a2s_query::Client::builder().limits(limits).build();
/// # drop(client);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Limits {
    /// Most fragments one split reply may declare (the wire allows 255).
    /// Default 128: about 160 KB of 1248-byte fragments, several times the largest
    /// replies seen in the wild. Past it: [`Error::TooManyFragments`](crate::Error::TooManyFragments).
    pub max_fragments: u8,
    /// Most bytes held for one reply: a single datagram, or a split reply's datagrams
    /// with their headers. Default 512 KiB. Past it:
    /// [`Error::ReplyTooLarge`](crate::Error::ReplyTooLarge).
    pub max_reply_bytes: usize,
    /// Most bytes a bzip2-compressed reply may declare or inflate to; checked before
    /// allocating, and decompression stops one byte past it. Default 1 MiB. Past it:
    /// [`Error::DecompressedTooLarge`](crate::Error::DecompressedTooLarge).
    pub max_decompressed_bytes: usize,
    /// Most split replies collected at once (per message id); the least recently
    /// updated is dropped for a new one. Default 4.
    pub max_pending_replies: usize,
    /// Most challenge rounds in one call before giving up. Default 5 (as python-a2s).
    /// Past it: [`Error::TooManyChallenges`](crate::Error::TooManyChallenges).
    pub max_challenge_rounds: u8,
    /// Most stray datagrams (junk, leftovers, other reply types, duplicates) tolerated
    /// in one call. Default 256. Past it:
    /// [`Error::TooManyStrayDatagrams`](crate::Error::TooManyStrayDatagrams).
    pub max_stray_datagrams: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_fragments: 128,
            max_reply_bytes: 512 * 1024,
            max_decompressed_bytes: 1024 * 1024,
            max_pending_replies: 4,
            max_challenge_rounds: 5,
            max_stray_datagrams: 256,
        }
    }
}
